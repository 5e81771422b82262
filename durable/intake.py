"""The driver's appends, what it takes in of others' appends, and what is handed to it.

Others may append to a run while it executes here: a resume of another branch,
a fired timer, an event for its mailbox, a child run's news, a pause or cancel
request. The driver takes their events in at its next append's conflict (or
when told the log moved) and carries on; anything else in between (another
engine recovered the run) means it lost the run, and it stops without writing.
Work handed to it in this engine (an event sent, a child's news) it appends
between its own events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from durable.endings import Ending
from durable.errors import PositionConflict
from durable.events import ANSWERS, Event, EventType
from durable.mailbox import first_take, sent
from durable.paths import path_key
from durable.recorded import CHILD, SUSPEND
from durable.store.types import QueueGuard
from durable.surfaced import is_news
from durable.writer import Item


class Intake(Ending):
    """Appending for the driver, and taking in what others appended."""

    tasks: dict[str, asyncio.Task[None]]

    async def claim(self, items: list[Item], ts: datetime | None = None,
                    guard: QueueGuard | None = None) -> list[Event]:
        """Append what is pending and ``items``, taking the run over (a resume of a
        suspended run, a recovery), at time ``ts`` if given. A conflict is not taken in:
        someone else got there first, and the caller looks at the log again.

        A bare claim (``recovered``, ``claimed``) of a run whose code waits for an event
        its mailbox holds takes the event with it: the run is never seen ``suspended``
        for an event it already has."""
        pending, self.pending = self.pending, []
        lead = 1 if items and items[0][0] in (EventType.RECOVERED, EventType.CLAIMED
                                              ) else 0  # the claim first
        take = first_take(self.requests.values(), self.run.mailbox) if (
            lead and len(items) == 1 and self.run.mailbox) else None
        try:
            appended = await self.writer.append(
                self.tail, [*items[:lead], *pending, *items[lead:], *([take[1]] if take else [])],
                ts=ts, guard=guard)
        except BaseException:
            self.pending[:0] = pending
            raise
        if take is not None:
            self.deliver(take[0], appended[-1])
        return appended

    async def _append(
        self, items: list[Item], blobs: dict[str, bytes] | None = None, *,
        with_pending: bool = True,
    ) -> list[Event] | None:
        """Append what is pending and ``items``. None: others appended first, and their
        events were taken in instead; the caller looks at the run again and decides.

        ``with_pending=False``: ``items`` alone, for an append that leaves the run as
        it stands (an event sent to it, a child's news) while its code may go on: a
        pending ``suspended`` written then would say ``suspended`` while a step runs."""
        if self.dead:
            raise PositionConflict(self.run_id, self.position)
        pending, self.pending = (self.pending, []) if with_pending else ([], self.pending)
        try:
            return await self.writer.append(self.tail, [*pending, *items], blobs=blobs)
        except PositionConflict as conflict:
            self.pending[:0] = pending
            newer = await self.writer.newer(self.tail)
            if not newer:  # no race: the database refused the append for another reason
                self.dead = True
                raise (conflict.__cause__ or conflict) from None
            if not self._take_all(newer):
                raise
            return None
        except BaseException:
            self.dead = True
            raise

    async def mark_first(self) -> bool:
        """Write the patch markers (``ctx.patched``) waiting to be appended before this
        execution starts a step or a child: nothing of a new path may leave the process
        before the log says the run took it (else a crash and a replay could take the
        old path after the new one had run). False: others appended first; look again.
        Only the markers go: a waiting ``suspended`` would say so while a step runs."""
        marks = [i for i in self.pending if i[0] is EventType.PATCHED]
        if marks:
            self.pending = [i for i in self.pending if i[0] is not EventType.PATCHED]
            if await self._append(marks, with_pending=False) is None:
                self.pending[:0] = marks
                return False
        self.unmarked = False
        return True

    async def take_in(self) -> bool:
        """Fold in what others appended since our position and deliver it. False (and
        dead) when something came in that only another holder could have written."""
        return self._take_all(await self.writer.newer(self.tail))

    def _take_all(self, newer: list[Event]) -> bool:
        for e in newer:
            if not self._take(e):
                self.dead = True
                return False
            self.loop.run_until_idle()
            self._raise_if_nde()
        return True

    def _take(self, e: Event) -> bool:
        t = e.type
        if t is EventType.PAUSE_REQUESTED:
            self.writer.follow(self.tail, e)
            self.pause_requested = True
            return True
        if t is EventType.EVENT_SENT or t is EventType.CHILD_SUSPENDED:
            self.writer.follow(self.tail, e)  # a wait takes the event (advance); a child waits
            return True
        if t is EventType.CHILD_ENDED:  # a child this run waits for ended (told from elsewhere)
            key = path_key(e.payload.path)
            self.writer.follow(self.tail, e)
            req = self.requests.get(key)
            if req is not None and req.kind == CHILD:
                self.deliver(req, e, key)
            return True
        if t in ANSWERS:  # another engine answered a suspension (or fired a timer)
            key = path_key(e.payload.path)
            req = self.requests.get(key)
            if key not in self.run.suspensions:
                return False
            if req is not None and req.kind == SUSPEND:
                self.writer.follow(self.tail, e)
                self.deliver(req, e, key)
                return True
            if key in self.withdrawn:  # the answer came after the code stopped waiting
                self.writer.follow(self.tail, e)
                return True
            return False
        if t is EventType.CANCELLED:  # someone cancelled the run: it is over
            self.writer.follow(self.tail, e)
        return False  # recovered by another engine, or over: this execution lost the run

    async def _take_mail(self) -> bool:
        """A wait the mailbox can answer takes its event (recorded, then delivered).
        False: nothing to take."""
        take = first_take(self.requests.values(), self.run.mailbox)
        if take is None:
            return False
        req, item = take
        appended = await self._append([item])
        if appended is not None:  # else others appended first: the caller looks again
            self.deliver(req, appended[-1])
        return True

    async def for_caller(self, fut: asyncio.Future[None], work: Awaitable[None]) -> None:
        """Do ``work`` for a caller waiting on ``fut`` (appends handed to this driver),
        and tell it how that went: done, or the error (the driver's own stop included)."""
        try:
            await work
        except BaseException as e:
            if not fut.done():
                fut.set_exception(e if isinstance(e, Exception) else
                                  PositionConflict(self.run_id, self.position))
            raise
        if not fut.done():
            fut.set_result(None)

    async def _child_here(self, news: Item) -> None:
        key = path_key(news[1].path)  # type: ignore[attr-defined]
        while self.child_news(news) and key not in self.withdrawn:
            appended = await self._append([news], with_pending=False)
            if appended is None:
                continue
            req = self.requests.get(key)
            if news[0] is EventType.CHILD_ENDED and req is not None and req.kind == CHILD:
                self.deliver(req, appended[-1], key)
            break

    async def _send_here(self, name: str, value: Any) -> None:
        while await self._append([sent(name, value)], with_pending=False) is None:
            pass

    def child_news(self, item: Item) -> bool:
        """Is ``item`` (a child's ``child_suspended`` or ``child_ended``) news to this
        run? Its child's log must have moved past what this run recorded last."""
        return is_news(self.run, item)
