"""Ask a DNS server with dnspython and print what it answered, as one JSON object per query.

usage: dns_query.py SERVER PORT [--tcp] NAME:TYPE...

Each line: {"name", "type", "rcode", "answer": [[name, type, ttl, text]...], "authority": [...],
"additional": [...], "tc": bool, "aa": bool}. The test that runs it asserts on these.
"""
import json
import sys

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


def section(rrsets):
    out = []
    for rrset in rrsets:
        for rd in rrset:
            out.append([rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, rd.to_text()])
    return out


def main():
    server, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    tcp = "--tcp" in args
    for q in (a for a in args if a != "--tcp"):
        name, _, rtype = q.rpartition(":")
        msg = dns.message.make_query(name, rtype)
        if tcp:
            r = dns.query.tcp(msg, server, port=port, timeout=5)
        else:
            r = dns.query.udp(msg, server, port=port, timeout=5, ignore_trailing=True)
        print(json.dumps({
            "name": name,
            "type": rtype,
            "rcode": dns.rcode.to_text(r.rcode()),
            "answer": section(r.answer),
            "authority": section(r.authority),
            "additional": section(r.additional),
            "tc": bool(r.flags & dns.flags.TC),
            "aa": bool(r.flags & dns.flags.AA),
        }), flush=True)


if __name__ == "__main__":
    main()
