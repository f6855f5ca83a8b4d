"""The agent: the small client a product's node runs to hold a seat at the controller.

    agent = Agent(["http://ctl-a:8800", "http://ctl-b:8800"], token, "node-17")
    await agent.run(stop_event)      # join (retrying with backoff), heartbeat, leave when stopped
    await agent.aclose()

Many agents in one process share one connection pool: ``async with session(connections=500) as s:``
and ``Agent(…, client=s)``.  ``simulate`` is the storm behind ``licensor agent simulate`` and the
admission benchmark: ``count`` agents join at once over ``concurrency`` connections.

The HTTP client is aiohttp, whose cost per request stays flat however many connections are open
(httpx's pool scans every connection for every request, which made a storm quadratic).
"""

from __future__ import annotations

from .client import Agent, Result, Unreachable, session
from .simulate import simulate

__all__ = ["Agent", "Result", "Unreachable", "session", "simulate"]
