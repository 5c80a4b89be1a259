"""How the broker link reads in ``severed status`` and ``severed doctor``: from the
``fleet`` entry of the daemon's status (BoothLink.info), no network of its own."""


def status_lines(fleet):
    """Lines for ``severed status`` (none when the site has no [fleet])."""
    if not fleet:
        return []
    where = fleet.get("broker") or "broker"
    lines = [f"fleet      {where} {'connected' if fleet.get('connected') else 'NOT CONNECTED'}"
             + (f", topics {fleet['topics']}" if fleet.get("topics") else "")]
    group = fleet.get("group")
    if group:
        role = group.get("role")
        text = f"group      {group.get('name')}: " + (
            "leading" if role == "leader" else
            f"member, led by {group.get('leader')}" if role == "member" else str(role))
        if role in ("leader", "member"):
            text += f" (members {', '.join(group.get('members') or [])})"
        if group.get("note"):
            text += f" ({group['note']})"
        lines.append(text)
    lines += [f"fleet      PROBLEM: {p}" for p in fleet.get("problems") or ()]
    return lines


def doctor_result(fleet):
    """(status, message, fix) for ``severed doctor``; None when there is no [fleet]."""
    if not fleet:
        return None
    problems = fleet.get("problems") or []
    if problems:
        return ("fail", "; ".join(problems),
                "check [fleet] username and password_file against the broker's password "
                "file, and the broker's ACL (docs/fleet.md, installation/mosquitto/acl)")
    if not fleet.get("connected"):
        return ("warn", f"not connected to {fleet.get('broker')}: playing standalone",
                "is the broker running and reachable? (mosquitto_sub -h HOST -t '$SYS/#' "
                "-u USER -P ...); the booth joins by itself when it is")
    group = fleet.get("group")
    extra = f", group {group['name']} ({group['role']})" if group else ""
    return ("ok", f"connected to {fleet.get('broker')}{extra}", "")
