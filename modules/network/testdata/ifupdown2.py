# Runs an ifupdown2 tree extracted from its .deb (dpkg -x) without installing
# it: argv = SHARE_DIR CONF_DIR ifup -s -i FILE -a (syntax check only).
import sys, importlib.util
share, etc = sys.argv[1], sys.argv[2]
sys.path.insert(0, share + "/ifupdown2")
sys.path.insert(0, share)
import ifupdown2.ifupdown.config as config
config.IFUPDOWN2_CONF_PATH = etc + "/ifupdown2.conf"
config.ADDONS_CONF_PATH = etc + "/addons.conf"
# ifupdown2 takes its lock in /run/network, which exists only where
# networking ran; a private lock file keeps the check independent of it
# (and of other checks running at the same time).
import atexit, os, tempfile
import ifupdown2.ifupdown.main as ifmain
fd, ifmain.lockfile = tempfile.mkstemp(prefix="ifupdown2-lock-")
os.close(fd)
atexit.register(os.remove, ifmain.lockfile)
sys.argv = [sys.argv[3]] + sys.argv[4:]
spec = importlib.util.spec_from_file_location("ifmain", share + "/ifupdown2/__main__.py")
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
sys.exit(m.main())
