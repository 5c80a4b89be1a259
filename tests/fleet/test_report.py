"""How the broker link reads in `severed status` and `severed doctor`."""

from severed.fleet.report import doctor_result, status_lines

MEMBER = {"broker": "broker.local:1883", "connected": True, "topics": "severed/corridor",
          "problems": [], "group": {"name": "floor", "role": "member", "leader": "elevator",
                                    "members": ["corridor", "elevator"], "note": ""}}


def test_status_lines():
    assert status_lines(None) == []
    assert status_lines(MEMBER) == [
        "fleet      broker.local:1883 connected, topics severed/corridor",
        "group      floor: member, led by elevator (members corridor, elevator)"]
    lost = dict(MEMBER, connected=False, problems=["the broker refused the login: x"],
                group={"name": "floor", "role": "standalone", "leader": None,
                       "members": ["corridor"], "note": "no broker: playing standalone"})
    assert status_lines(lost) == [
        "fleet      broker.local:1883 NOT CONNECTED, topics severed/corridor",
        "group      floor: standalone (no broker: playing standalone)",
        "fleet      PROBLEM: the broker refused the login: x"]


def test_doctor_result():
    assert doctor_result(None) is None
    assert doctor_result(MEMBER) == ("ok", "connected to broker.local:1883, group floor "
                                           "(member)", "")
    status, message, fix = doctor_result(dict(MEMBER, connected=False))
    assert status == "warn" and "playing standalone" in message and "joins by itself" in fix
    status, message, _ = doctor_result(dict(MEMBER, problems=["a", "b"]))
    assert (status, message) == ("fail", "a; b")
