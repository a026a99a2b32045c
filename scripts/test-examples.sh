#!/usr/bin/env bash
# The README's Swift code, for real:
#   1. every Swift block of README.md and docs/*.md appears verbatim in a source of the
#      Examples package (the Hummingbird route block is Examples/Sources/authz-api/API.swift,
#      byte for byte; the snippets are in Examples/Sources/readme-* and docs-*, with stand-ins
#      for their surroundings), except quoted declarations marked as such;
#   2. the Examples package builds;
#   3. with the servers running (STRATA_PG_URL, STRATA_REDIS_URL, the migrations applied)
#      and a strata-worker beside them, the route answers over HTTP: a granted read is
#      allowed, another user and an anonymous caller are forbidden, a revoked grant is
#      forbidden within the invalidation window, and a delete goes through the cache's check.
# Called by scripts/test.sh after the Swift tests; STRATA_WORKER_BIN: the worker to run.
source "$(dirname "$0")/lib.sh"
cd "$STRATA_ROOT"

log "the Swift blocks of README.md and docs/*.md against the sources in Examples/"
python3 - "$STRATA_ROOT/README.md" "$STRATA_ROOT/Examples/Sources/authz-api/API.swift" <<'PY' || exit 1
import glob, os, re, sys
readme, source = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sources = {path: open(path).read() for path in glob.glob(os.path.join(os.path.dirname(os.path.dirname(sys.argv[2])), "*", "*.swift"))}
# A block right after "<!-- declarations of the library, quoted: not an example to build -->" is exempt.
quoted = "<!-- declarations of the library, quoted: not an example to build -->\n"
documents = [sys.argv[1]] + sorted(glob.glob(os.path.join(os.path.dirname(sys.argv[1]), "docs", "*.md")))
for document in documents:
    text = open(document).read()
    for number, match in enumerate(re.finditer(r"```swift\n(.*?)```\n", text, re.S), 1):
        block = match.group(1)
        if text[:match.start()].endswith(quoted) or any(block in source for source in sources.values()):
            continue
        first = block.splitlines()[0] if block.strip() else "(empty)"
        sys.exit(f"error: Swift block #{number} of {os.path.relpath(document)} (starting '{first}') is in no source under "
                 "Examples/Sources; copy it there (with stand-ins for what it uses) so that it is built")
marker = "this block is its `API.swift`):"
if marker not in readme:
    sys.exit("error: README.md no longer introduces the Hummingbird example with: " + marker)
start = readme.index("```swift\n", readme.index(marker)) + len("```swift\n")
block = readme[start:readme.index("```\n", start)]
if block != source:
    import difflib
    sys.stderr.writelines(difflib.unified_diff(block.splitlines(True), source.splitlines(True), "README.md", "API.swift"))
    sys.exit("error: the README's Hummingbird example differs from Examples/Sources/authz-api/API.swift; make them the same")
PY

log "building Examples (authz-api)"
scratch=(--package-path "$STRATA_ROOT/Examples" --scratch-path "$STRATA_ROOT/.build-examples")
swift build "${scratch[@]}" >"$STRATA_HOME/examples-build.log" 2>&1 \
    || { tail -n 40 "$STRATA_HOME/examples-build.log" >&2; die "the Examples package does not build, see $STRATA_HOME/examples-build.log"; }
api_bin="$(swift build "${scratch[@]}" --show-bin-path)/authz-api"

[ -n "${STRATA_PG_URL:-}" ] && [ -n "${STRATA_REDIS_URL:-}" ] || die "STRATA_PG_URL and STRATA_REDIS_URL must point at running servers"
worker_bin="${STRATA_WORKER_BIN:-$(swift build --show-bin-path)/strata-worker}"
[ -x "$worker_bin" ] || die "strata-worker not found at $worker_bin; build it (swift build) or set STRATA_WORKER_BIN"

api_pid="" worker_pid=""
fixtures_down() {
    strata_psql -qc "delete from authz.users where id between 990001 and 990003" >/dev/null 2>&1 || true
}
cleanup() {
    for pid in $api_pid $worker_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $api_pid $worker_pid; do wait "$pid" 2>/dev/null || true; done
    fixtures_down
    # a consumer left behind would hold back every other worker's pruning
    strata_psql -qc "delete from strata.consumer_offsets where consumer = 'examples'" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "fixtures: project 990001 owned by user 990001, read granted to 990002, generation 990001"
fixtures_down
strata_psql -q >/dev/null <<'SQL'
insert into authz.users (id, name, email) values
    (990001, 'example owner', 'owner@example.test'),
    (990002, 'example reader', 'reader@example.test'),
    (990003, 'example other', 'other@example.test');
insert into authz.projects (id, name, owner_user_id, visibility) values (990001, 'example project', 990001, 'private');
insert into authz.generations (id, user_id, project_id) values (990001, 990001, 990001);
insert into authz.grants (user_id, project_id, action) values (990002, 990001, 'read');
SQL

"$worker_bin" --postgres-url "$STRATA_PG_URL" --redis-url "$STRATA_REDIS_URL" --consumer examples \
    --no-refresh --log-level warning >"$STRATA_HOME/examples-worker.log" 2>&1 &
worker_pid=$!
port="$(free_port 58700)"
HOST=127.0.0.1 PORT="$port" REDIS_URL="$STRATA_REDIS_URL" DATABASE_URL="$STRATA_PG_URL" \
    STRATA_L2_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
    "$api_bin" >"$STRATA_HOME/examples-api.log" 2>&1 &
api_pid=$!

for _ in $(seq 150); do
    [ "$(strata_psql -tAc "select count(*) from strata.consumer_offsets where consumer = 'examples'")" = 1 ] && break
    kill -0 "$worker_pid" 2>/dev/null || { tail -n 20 "$STRATA_HOME/examples-worker.log" >&2; die "strata-worker exited"; }
    sleep 0.2
done
[ "$(strata_psql -tAc "select count(*) from strata.consumer_offsets where consumer = 'examples'")" = 1 ] \
    || die "strata-worker did not register its consumer within 30 s (see $STRATA_HOME/examples-worker.log)"

log "requests to the example on 127.0.0.1:$port"
python3 - "$port" "$api_pid" <<'PY' || { tail -n 20 "$STRATA_HOME/examples-api.log" >&2; exit 1; }
import os, subprocess, sys, time, urllib.error, urllib.request
port, api_pid = sys.argv[1], int(sys.argv[2])
database = os.environ["STRATA_PG_URL"]
psql = os.path.join(os.environ["PG_BIN"], "psql")

def call(method, path, user=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    if user is not None:
        request.add_header("X-User-Id", str(user))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()

def expect(what, got, wanted):
    if got[0] != wanted:
        sys.exit(f"error: {what}: HTTP {got[0]} {got[1]!r}, expected {wanted}")
    print(f"  ok: {what}: HTTP {got[0]}", file=sys.stderr)

deadline = time.monotonic() + 60
while True:
    try:
        call("GET", "/projects/990001")
        break
    except OSError:
        try:
            os.kill(api_pid, 0)
        except ProcessLookupError:
            sys.exit("error: the example exited before it listened (its log follows)")
        if time.monotonic() > deadline:
            sys.exit("error: the example did not listen within 60 s (its log follows)")
        time.sleep(0.2)

expect("granted reader reads the project", call("GET", "/projects/990001", 990002), 200)
expect("granted reader again (cached)", call("GET", "/projects/990001", 990002), 200)
expect("another user is forbidden", call("GET", "/projects/990001", 990003), 403)
expect("an anonymous caller is forbidden", call("GET", "/projects/990001"), 403)
expect("a malformed user id is a bad request", call("GET", "/projects/990001", "x"), 400)

subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", database, "-c",
                "delete from authz.grants where user_id = 990002 and project_id = 990001"], check=True)
revoked = time.monotonic()
while True:
    status = call("GET", "/projects/990001", 990002)
    if status[0] == 403:
        print(f"  ok: revoked grant forbidden after {(time.monotonic() - revoked) * 1000:.0f} ms", file=sys.stderr)
        break
    if status[0] != 200:
        sys.exit(f"error: after the revoke: HTTP {status[0]} {status[1]!r}")
    if time.monotonic() - revoked > 5:
        sys.exit("error: the revoked reader was still allowed 5 s after the revoke")
    time.sleep(0.05)

expect("another user may not delete the generation", call("DELETE", "/generations/990001", 990003), 403)
expect("the owner deletes the generation", call("DELETE", "/generations/990001", 990001), 204)
left = subprocess.run([psql, "-X", "-tA", database, "-c", "select count(*) from authz.generations where id = 990001"],
                      check=True, capture_output=True, text=True).stdout.strip()
if left != "0":
    sys.exit("error: the generation is still there after the owner's DELETE")
print("  ok: the generation is gone", file=sys.stderr)
PY
kill -0 "$worker_pid" 2>/dev/null || { tail -n 20 "$STRATA_HOME/examples-worker.log" >&2; die "strata-worker exited during the checks"; }
log "examples: all checks passed"
