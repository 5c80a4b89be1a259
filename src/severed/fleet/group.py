"""Who leads a group of booths, and which of its scene changes are news.

Pure: the caller says what it heard and when (monotonic seconds); nothing here reads a
clock or the network. Members say hello every ``HELLO_S``; one not heard for
``GONE_AFTER_S`` has left. The leader is

1. the configured ``leader`` while it is heard, else
2. the member whose site name sorts first among those heard (this one included),

so every member that hears the same members names the same leader, and when a leader
goes quiet the next in name order takes over within ``GONE_AFTER_S``::

    group = Group("floor", me="corridor", leader="elevator")
    group.heard("elevator", now)
    group.leader(now)        # -> "elevator"
    group.news({"scene": "descent", "at": 1733390000.4, "leader": "elevator"})  # -> True
"""

HELLO_S = 1.0
GONE_AFTER_S = 3.5
JOIN_S = 1.5  # listen this long after joining before deciding anything


class Group:
    def __init__(self, name, me, leader=""):
        self.name = name
        self.me = me
        self.configured_leader = leader
        self._heard = {}  # site -> monotonic time last heard
        self.last_at = 0.0  # wall-clock start of the newest change taken
        self.current = None  # the newest change taken (its message)
        self._leader = None
        self.note = ""  # why the leader is who it is, when that is news

    def heard(self, site, now):
        if site != self.me:
            self._heard[site] = now

    def members(self, now):
        """Sites heard recently, this one included, in name order."""
        return sorted({self.me} | {s for s, t in self._heard.items()
                                   if now - t < GONE_AFTER_S})

    def leader(self, now):
        alive = self.members(now)
        wanted = self.configured_leader
        leader = wanted if wanted and wanted in alive else alive[0]
        if leader != self._leader:
            if self._leader is not None and self._leader not in alive:
                self.note = f"leader {self._leader} lost; {leader} leads"
            elif wanted and leader != wanted:
                self.note = f"configured leader {wanted} not heard; {leader} leads"
            else:
                self.note = ""
            self._leader = leader
        return leader

    def news(self, change):
        """True for a change newer than every one taken so far (then it is taken):
        if two members both thought they led for a moment, the later start wins."""
        at = change.get("at")
        if not isinstance(at, (int, float)) or isinstance(at, bool) or at <= self.last_at:
            return False
        self.last_at = float(at)
        self.current = change
        return True

    def forget(self):
        """After losing the broker: whoever is heard next is news again."""
        self._heard.clear()
        self._leader = None
