"""The shared cache: django-redis, reading an unreachable Redis as an empty cache.

With ``IGNORE_EXCEPTIONS`` django-redis answers a lookup with a miss and drops a write
while Redis is away, so pages, sessions (read from the database) and rate limits (which
count nothing) go on working. Its ``add`` answers None then, which callers read as
"someone else holds it": allauth's rate-limit lock would wait a second and refuse every
sign-in. An empty cache adds, so ``add`` answers True here, with one exception: a key
that guards against a replay (allauth's record of the two-factor codes already used)
is refused, so a code can never be used twice; two-factor sign-ins wait for Redis.
"""

from __future__ import annotations

from typing import Any

from django_redis.cache import RedisCache as DjangoRedisCache  # type: ignore[import-untyped]

# Keys whose add() says "not used before": refused while Redis cannot say.
REPLAY_GUARDS = ("allauth.mfa.totp.used",)


class RedisCache(DjangoRedisCache):
    def add(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        added = super().add(key, *args, **kwargs)
        if added is None:  # Redis is away (django-redis ignored the error)
            return not str(key).startswith(REPLAY_GUARDS)
        return added
