"""An event is never lost between recording an outcome and writing its
webhook event: trackd names each outcome's event by the job and the log
line, so a line read again after a crash writes the same event, with the
same webhook-id, and spoold's email.sent of a job handed over again is the
same event too."""

import os
import shutil

import pytest

from relaystack import wait_for
from test_trackd import TRACKD, Track

pytestmark = pytest.mark.skipif(not os.access(TRACKD, os.X_OK),
                                reason="trackd is not built (run make)")


def events(tr):
    d = os.path.join(tr.sp.spool, "events")
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) \
        if os.path.isdir(d) else []


def test_a_line_read_again_writes_the_same_event(tmp_path):
    tr = Track(tmp_path, webhooks=str(tmp_path / "webhooks"))
    try:
        jid = tr.job(["a@dest.test", "b@dest.test"])
        tr.start()
        pos = os.path.join(tr.sp.spool, "track.pos")
        shutil.copy(pos, str(tmp_path / "pos.before"))
        q = tr.qid()
        tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "sent"),
                 tr.rcpt(q, "b@dest.test", "bounced"))
        tr.wait_status(jid, "b@dest.test", "bounced")
        # The event follows the record.
        wait_for(lambda: len(events(tr)) == 2, 10, "two events")
        first = events(tr)
        assert tr.stop() == 0
        # As if trackd had died after recording the outcomes but before
        # writing their events and saving its position: the events are
        # gone, the position is the one from before the lines.
        for e in first:
            os.unlink(os.path.join(tr.sp.spool, "events", e))
        shutil.copy(str(tmp_path / "pos.before"), pos)
        tr.start()
        wait_for(lambda: events(tr) == first, 10, "the same two events")
        # Read a third time: still the same two.
        assert tr.stop() == 0
        shutil.copy(str(tmp_path / "pos.before"), pos)
        n = tr.log().count("already recorded")
        tr.start()
        wait_for(lambda: tr.log().count("already recorded") >= n + 2, 10,
                 "both lines read again")
        assert events(tr) == first
    finally:
        tr.close()
