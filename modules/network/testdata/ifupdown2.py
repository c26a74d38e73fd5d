# Runs an ifupdown2 tree extracted from its .deb (dpkg -x) without installing
# it: argv = SHARE_DIR CONF_DIR RUN_DIR ifup -s -i FILE -a (syntax check only).
#
# ifupdown2 takes a global lock and keeps global state: /run/network/.lock
# (ifupdown/main.py:38, flock LOCK_NB in ifupdown/utils.py lockFile: a second
# instance fails with "Another instance of this program is already running"),
# /run/network/ifstatelock (ifupdown/statemanager.py:71,74) and state_dir
# (/var/tmp/network, ifupdown2.conf, statemanager.py:66). All three are
# pointed into RUN_DIR, private to one check, so two test runs on one
# machine never collide, and the check touches nothing of the host's.
import os, sys, importlib.util
share, etc, run = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, share + "/ifupdown2")
sys.path.insert(0, share)
import ifupdown2.ifupdown.config as config
state = os.path.join(run, "state")
os.makedirs(state, exist_ok=True)
conf = os.path.join(run, "ifupdown2.conf")
with open(etc + "/ifupdown2.conf") as src, open(conf, "w") as dst:
    for line in src:
        if line.startswith("state_dir="):
            line = "state_dir=" + state + "/\n"
        dst.write(line)
config.IFUPDOWN2_CONF_PATH = conf
config.ADDONS_CONF_PATH = etc + "/addons.conf"
# Imported only now: they read the config paths when imported.
import ifupdown2.ifupdown.main as ifmain
import ifupdown2.ifupdown.statemanager as statemanager
ifmain.lockfile = os.path.join(run, ".lock")
statemanager.stateManager.state_rundir = run + "/"
statemanager.stateManager._stateManager__DEFAULT_STATE_DIR = state + "/"
sys.argv = [sys.argv[4]] + sys.argv[5:]
spec = importlib.util.spec_from_file_location("ifmain", share + "/ifupdown2/__main__.py")
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
sys.exit(m.main())
