"""Reported posts' addresses: checking them, and telling when two reports are about the same post.

The same post reaches us written many ways — ``https://twitter.com/Dr_X/status/123?s=20``,
``x.com/dr_x/status/123``, a mobile link with tracking parameters — so duplicates are found on a
normalised key (``url_key``) and, where the address holds one, the platform's own post id
(``post_id_from_url``). Pure: no Flask, no database.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MAX_URL_LENGTH = 2000

# Hosts that are the same site under another name; the key uses the name on the right.
HOST_ALIASES = {
    "twitter.com": "x.com",
    "mobile.twitter.com": "x.com",
    "mobile.x.com": "x.com",
    "m.facebook.com": "facebook.com",
    "web.facebook.com": "facebook.com",
    "fb.com": "facebook.com",
    "m.youtube.com": "youtube.com",
    "youtu.be": "youtube.com",
    "vm.tiktok.com": "tiktok.com",
    "threads.com": "threads.net",
}

# Query parameters that say who shared a link or how, never which post it is.
TRACKING_PARAMETERS = re.compile(r"^(utm_.*|s|t|ref|ref_src|ref_url|fbclid|gclid|igshid|igsh|si|mibextid|"
                                 r"share_id|feature|_r|rcm|trk|lipi|is_from_webapp|sender_device)$", re.I)

# Where each platform keeps its post id in an address: (platform, pattern over "host/path?query").
POST_ID_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("x", re.compile(r"^x\.com/[^/]+/status(?:es)?/(\d{5,25})")),
    ("facebook", re.compile(r"^facebook\.com/(?:[^/]+/posts|[^/]+/videos|permalink\.php|story\.php)[/?]"
                            r"(?:.*?story_fbid=)?([\w.-]{5,80})")),
    ("instagram", re.compile(r"^instagram\.com/(?:[^/]+/)?(?:p|reel|reels|tv)/([\w-]{5,40})")),
    ("linkedin", re.compile(r"^linkedin\.com/.*?(?:activity|ugcPost|share)[-:](\d{10,25})")),
    ("tiktok", re.compile(r"^tiktok\.com/@[^/]+/video/(\d{5,25})")),
    ("youtube", re.compile(r"^youtube\.com/(?:watch\?(?:.*&)?v=|shorts/|live/|embed/)([\w-]{11})(?:[&/?]|$)")),
    ("bluesky", re.compile(r"^bsky\.app/profile/[^/]+/post/([\w]{5,40})")),
    ("threads", re.compile(r"^threads\.net/@[^/]+/post/([\w-]{5,40})")),
    ("mastodon", re.compile(r"^[^/]+/@[^/]+/(\d{5,25})")),
)


class BadUrl(ValueError):
    """An address that cannot be a post's address; the message says what to fix."""


def check_url(url: str) -> str:
    """The address, trimmed, if it is a full web address; otherwise BadUrl saying what is wrong."""
    text = (url or "").strip()
    if not text:
        raise BadUrl("Give the post's address (it starts with https://).")
    if len(text) > MAX_URL_LENGTH:
        raise BadUrl(f"That address is {len(text)} characters long; a post's address is under {MAX_URL_LENGTH}.")
    if any(ch.isspace() for ch in text):
        raise BadUrl("An address has no spaces in it; copy it again from the browser's address bar.")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise BadUrl("That is not a web address; copy it again from the browser's address bar.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadUrl("Give the full address, starting https:// (copy it from the browser's address bar).")
    host = parts.hostname or ""
    if "." not in host or not re.fullmatch(r"[a-z0-9.-]+", host):
        raise BadUrl("That address has no proper site name in it (like x.com/…); copy it again.")
    return text


def _host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    host = host.removeprefix("www.")
    return HOST_ALIASES.get(host, host)


@lru_cache(maxsize=4096)  # pure; the import asks for each row's key several times
def url_key(url: str) -> str:
    """The address reduced to what identifies the post: no scheme, ``www.``, fragment, tracking
    parameters or trailing slash; known host aliases merged; host and path case ignored where the
    platform ignores it (user names), kept for ids elsewhere."""
    parts = urlsplit(url.strip())
    host = _host(parts.hostname or "")
    path = re.sub(r"/{2,}", "/", parts.path or "/").rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=False) if not TRACKING_PARAMETERS.match(k)]
    if host == "youtube.com" and (parts.hostname or "").lower().endswith("youtu.be") and path:
        query = [("v", path.lstrip("/")), *query]
        path = "/watch"
    if host in ("x.com", "instagram.com", "tiktok.com", "threads.net", "bsky.app"):
        # User names in these paths are case-insensitive; the ids that follow are digits or
        # case-sensitive short codes, so only the user segment is folded.
        segments = path.split("/")
        user_segment = 2 if host == "bsky.app" else 1  # bsky.app/profile/<handle>/post/<id>
        if len(segments) > user_segment:
            segments[user_segment] = segments[user_segment].lower()
        path = "/".join(segments)
    return urlunsplit(("", host, path, urlencode(sorted(query)), "")).lstrip("/")


def post_id_from_url(url: str) -> tuple[str, str] | None:
    """(platform, post id) when the address holds the platform's id for the post."""
    key = url_key(url)
    for platform, pattern in POST_ID_PATTERNS:
        match = pattern.search(key)
        if match:
            return platform, match.group(1)
    return None
