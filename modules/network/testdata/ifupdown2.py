# Runs an ifupdown2 tree extracted from its .deb (dpkg -x) without installing
# it: argv = SHARE_DIR CONF_DIR ifup -s -i FILE -a (syntax check only).
import sys, importlib.util
share, etc = sys.argv[1], sys.argv[2]
sys.path.insert(0, share + "/ifupdown2")
sys.path.insert(0, share)
import ifupdown2.ifupdown.config as config
config.IFUPDOWN2_CONF_PATH = etc + "/ifupdown2.conf"
config.ADDONS_CONF_PATH = etc + "/addons.conf"
sys.argv = [sys.argv[3]] + sys.argv[4:]
spec = importlib.util.spec_from_file_location("ifmain", share + "/ifupdown2/__main__.py")
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
sys.exit(m.main())
