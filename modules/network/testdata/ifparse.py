# Parses an interfaces file with the parser of an ifupdown2 tree extracted
# from its .deb (dpkg -x), as ifup/ifreload parse it, and prints every
# interface it finds as JSON: argv = SHARE_DIR CONF_DIR FILE.
#
# networkInterfaces (ifupdown/networkinterfaces.py) is the parser ifupdown
# main uses (ifupdownmain.py:1366-1372 builds it from ifupdown2.conf's
# template_enable/template_engine/template_lookuppath, as done here);
# unlike `ifquery -a` this lists interfaces without an auto line too.
import json, sys
share, etc, path = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, share + "/ifupdown2")
sys.path.insert(0, share)
from ifupdown2.ifupdown.networkinterfaces import networkInterfaces
conf = {}
with open(etc + "/ifupdown2.conf") as f:
    for line in f:
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            conf[k] = v
found = []
nifaces = networkInterfaces(path, template_enable=conf.get("template_enable", "0"),
                            template_engine=conf.get("template_engine"),
                            template_lookuppath=conf.get("template_lookuppath"))
nifaces.subscribe("iface_found", found.append)
nifaces.load()
out = [{"name": o.name, "auto": o.auto, "addr_method": o.addr_method,
        "addr_family": o.addr_family, "config": {k: v for k, v in o.config.items()}} for o in found]
json.dump({"ifaces": out, "errors": nifaces.errors, "warns": nifaces.warns}, sys.stdout)
