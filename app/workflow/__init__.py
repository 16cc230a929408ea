"""The workflow engine. It imports no Flask: the web app, API, CLI and worker all drive it the same way."""

from app.workflow.definition import DeadlineDef, FieldDef, StateDef, TransitionDef, WorkflowDef
from app.workflow.engine import Decision, TransitionNotAllowed, available, decide
from app.workflow.registry import UnknownWorkflow, WorkflowRegistry, load_registry
from app.workflow.source import DefinitionError

__all__ = [
    "DeadlineDef",
    "Decision",
    "DefinitionError",
    "FieldDef",
    "StateDef",
    "TransitionDef",
    "TransitionNotAllowed",
    "UnknownWorkflow",
    "WorkflowDef",
    "WorkflowRegistry",
    "available",
    "decide",
    "load_registry",
]
