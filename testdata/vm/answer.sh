# shellcheck shell=bash
# answer.sh: the "answer" scenario of testdata/vm/e2e.sh (sourced by it):
# the VM fetches its seed from an answer server on the build machine's
# loopback and posts its report there (issue 17, "VM boot").
#
# The server is testdata/vm/answer (Go, built as bin/e2e-answer by make e2e,
# else here). It listens on 127.0.0.1 (a port of its choosing) with a
# self-signed certificate made at start; the guest reaches it as
# https://10.0.2.100:8443 through qemu user networking: a guestfwd whose
# command is the same binary in -relay mode, so the NIC stays restrict=on
# (nothing else leaves the VM). The image carries /etc/phoenix/source.yaml
# (URL, the run's fingerprint, the token file) and the two token files
# (0600 root); no seed volume is attached. The server picks the seed by the
# DMI serial qemu gives the VM (-smbios type=1,serial=...), adds a report
# section pointing back at itself, and records every request and report.
# testdata/vm/answer-check.py checks what it recorded.
# shellcheck disable=SC2317 # reached through "scenario_$s"

ANSWER_SERIAL=E2E-ANSWER-1
ANSWER_MAC=52:54:00:e2:e2:01
ANSWER_GUEST=10.0.2.100:8443

# answer_bin: the server binary; built here when make did not build it.
answer_bin() {
	ANSWER_BIN=${ANSWER_BIN:-bin/e2e-answer}
	[ -x "$ANSWER_BIN" ] && return 0
	local go
	go=$(command -v "${GO:-go}" || command -v /usr/local/go/bin/go || true)
	[ -n "$go" ] || return 1
	CGO_ENABLED=0 "$go" build -trimpath -o "$ANSWER_BIN" ./testdata/vm/answer
}

scenario_answer() {
	local d=$RS/answer
	say "answer: the seed from an HTTPS answer server on this machine's loopback (guestfwd to $ANSWER_GUEST), report posted back"
	echo "answer@$SU (seeds/answer.yaml served by testdata/vm/answer)" >>"$RUN/report.txt"
	if ! answer_bin; then
		fail answer.server_built "no $ANSWER_BIN and no go to build testdata/vm/answer (make e2e builds it)"
		return 0
	fi
	stage answer
	local r=$d/root srv=$d/server
	mkdir -p "$srv"
	# Per-run tokens: the server reads them from files, the guest too.
	head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$srv/answer.token"
	head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$srv/report.token"
	chmod 0600 "$srv/answer.token" "$srv/report.token"
	rm -f "$srv/port"
	"$ANSWER_BIN" -dir "$srv" -token-file "$srv/answer.token" -report-token-file "$srv/report.token" \
		-host "mac=52:54:00:00:00:99=$HERE/seeds/fail.yaml" \
		-host "serial=$ANSWER_SERIAL=$HERE/seeds/answer.yaml" \
		-report-url "https://$ANSWER_GUEST/report" -report-token-path /etc/phoenix/report.token \
		2>"$d/server.log" &
	ANSWER_PID=$!
	trap answer_stop EXIT
	local i=0
	while [ ! -s "$srv/port" ] && [ $i -lt 100 ] && kill -0 "$ANSWER_PID" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	if [ ! -s "$srv/port" ]; then
		fail answer.server_started "see $d/server.log"
		answer_stop
		return 0
	fi
	local port fp
	port=$(cat "$srv/port") fp=$(cat "$srv/fingerprint")
	pass answer.server_started "127.0.0.1:$port, certificate sha256 ${fp:0:23}..."

	"$BIN" install --root "$r" --enable >"$d/install.log"
	install -d -m 0700 "$r/etc/phoenix"
	install -m 0600 "$srv/answer.token" "$r/etc/phoenix/answer.token"
	install -m 0600 "$srv/report.token" "$r/etc/phoenix/report.token"
	cat >"$r/etc/phoenix/source.yaml" <<-EOF
	# e2e: the answer server on the build machine (testdata/vm/answer.sh)
	url: https://$ANSWER_GUEST/answer
	fingerprint: $fp
	token_file: /etc/phoenix/answer.token
	EOF
	chmod 0600 "$r/etc/phoenix/source.yaml"
	# For the guest's checks: the hash it must end up with, and the tokens
	# it must not find in Phoenix's state or logs.
	sed -n 's/^ *password_hash: *//p' "$HERE/seeds/answer.yaml" >"$r/root/e2e/answer.hash"
	cat "$srv/answer.token" "$srv/report.token" >"$r/root/e2e/answer.tokens"
	chmod 0600 "$r/root/e2e/answer.tokens"
	image answer

	local relay
	relay="$(realpath "$ANSWER_BIN") -relay 127.0.0.1:$port"
	# shellcheck disable=SC2054 # commas belong to qemu's option syntax
	NIC_ARGS="user,restrict=on,model=virtio-net-pci,mac=$ANSWER_MAC,guestfwd=tcp:$ANSWER_GUEST-cmd:$relay" \
		boot answer answer -smbios "type=1,serial=$ANSWER_SERIAL"
	answer_stop

	local l=$d/console-$BOOTN.log st u
	st=$(e2eline "$l" 'STATUS rc=')
	expect answer.status_exit0 "phoenix status: $st" test "$(field "$st" rc)" = 0
	expect answer.one_boot "ended by $LAST" test "$LAST" = poweroff
	guest_checks "$l"
	u=$(e2eline "$l" 'UNIT phoenix.service')
	expect answer.boot_disabled "$u" test "$(field "$u" enabled)" = disabled
	incat "$d/disk.img" /var/lib/phoenix/status.json >"$d/status.json"
	# What the server saw: the request, the choice, the report.
	if ! python3 "$HERE/answer-check.py" "$srv" "$d/status.json" "$ANSWER_SERIAL" "$ANSWER_MAC" "https://$ANSWER_GUEST/answer" \
		"$HERE/seeds/answer.yaml" "$r/root/e2e/answer.hash" | report; then
		FAILS+=(answer-check.py)
	fi
	echo "ANSWER@$SU wall=$WALL done_wall=$DONE_WALL requests=$(wc -l <"$srv/requests.jsonl" 2>/dev/null || echo 0)" >>"$RUN/times.txt"
}

answer_stop() {
	[ -n "${ANSWER_PID:-}" ] || return 0
	kill "$ANSWER_PID" 2>/dev/null || true
	wait "$ANSWER_PID" 2>/dev/null || true
	ANSWER_PID=
	trap - EXIT
}
