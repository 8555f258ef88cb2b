"""Sign-in throttling that an attacker cannot turn against the account's owner.

Three counters of attempts live in Redis (the app's one connection), so every gunicorn worker and thread sees the
same numbers and a restart of the web process does not reset them. Each expires ``SIGNIN_WINDOW_S`` (600 s) after its first
attempt; a successful sign-in clears them.

* per address, and per address + name: past ``SIGNIN_MAX_FAILURES`` (10) that address waits (429 with Retry-After);
* per name alone: never a refusal (anyone anywhere could trigger it and lock the owner out), only a growing
  delay before the password is checked, capped at ``NAME_DELAY_MAX_S``.

The attempt is counted *before* its password is checked, by one Lua script that tests and increments all three
counters atomically: 30 concurrent attempts from one address check at most ``SIGNIN_MAX_FAILURES`` (10) passwords. (The old
read-then-increment let 14 through.) Flask-Limiter was considered (issue 13) and not used: it counts requests,
and its ``deduct_when`` (count only failures) deducts after the response, which is the same test-then-count race;
it has no "slow down, never lock" mode; and a success must clear the counts. The ``limits`` engine under it
would also build its own Redis pool. So this is one script on the connection we already have.

When Redis cannot be reached the limit is skipped (with a warning) rather than locking everyone out: the
password check itself still runs.
"""
from __future__ import annotations

import logging
import time

from flask import current_app
from redis.exceptions import RedisError

from webapp import queue

log = logging.getLogger("scriptorium.auth")
NAME_FREE = 5  # failures for one name (from anywhere) before its checks are slowed
NAME_DELAY_S = 0.25  # the first delay; it doubles with each further failure
NAME_DELAY_MAX_S = 4.0

# KEYS: address, address+name, name. ARGV: limit, window. Returns {1, earlier attempts on the name} when the
# attempt may be checked (and has been counted), or {0, seconds to wait} when it may not.
_ADMIT = """
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait = 0
for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl <= 0 then ttl = window end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return {0, wait} end
local n = 0
for i = 1, 3 do
  n = redis.call('INCR', KEYS[i])
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], window) end
end
return {1, n - 1}
"""


def _config(name: str, default):
    """The name-delay knobs (tests shorten them through app.config)."""
    return type(default)(current_app.config.get(f"SIGNIN_{name}", default))


def _keys(ip: str, name: str) -> list[str]:
    name = name.strip().lower()[:200]
    return [f"scriptorium:signin:ip:{ip}", f"scriptorium:signin:pair:{ip}:{name}", f"scriptorium:signin:name:{name}"]


def name_delay(earlier: int) -> float:
    """Seconds to hold a check for a name that already had ``earlier`` attempts in this window."""
    if earlier < _config("NAME_FREE", NAME_FREE):
        return 0.0
    return min(_config("NAME_DELAY_MAX_S", NAME_DELAY_MAX_S),
               _config("NAME_DELAY_S", NAME_DELAY_S) * 2 ** (earlier - _config("NAME_FREE", NAME_FREE)))


def admit(ip: str, name: str) -> int | None:
    """Count this attempt and say whether its password may be checked: None (go ahead, after any slowdown for
    the name, which this call sleeps) or the seconds this address must wait first."""
    try:
        conn = queue.connection()
        settings = current_app.config["SCRIPTORIUM"]  # SIGNIN_MAX_FAILURES, SIGNIN_WINDOW_S
        allowed, value = conn.eval(_ADMIT, 3, *_keys(ip, name), settings.signin_max_failures,
                                   settings.signin_window_s)
    except RedisError as exc:
        log.warning("sign-in limit skipped, Redis unreachable: %s", exc)
        return None
    if not allowed:
        return int(value)
    delay = name_delay(int(value))
    if delay:
        log.info("sign-in for a name with %d recent failures held %.2f s", value, delay)
        time.sleep(delay)
    return None


def reset(ip: str, name: str) -> None:
    """A successful sign-in: forget this address's and this name's failures."""
    try:
        queue.connection().delete(*_keys(ip, name))
    except RedisError as exc:
        log.warning("could not clear sign-in failures: %s", exc)
