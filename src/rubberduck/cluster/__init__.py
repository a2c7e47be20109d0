"""What the nodes of a team deployment share in real time, on Redis (`RUBBERDUCK_REDIS_URL`).

Every Redis call goes through one `RedisLink` (link.py) so that a slow or dead Redis costs a proxied
request at most one bounded timeout, then nothing while its circuit breaker is open. Importing this
package imports redis-py (the `redis` extra): a single node never imports it.
"""
