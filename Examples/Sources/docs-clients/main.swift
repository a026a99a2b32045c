// Snippets of docs/clients.md (scripts/test-examples.sh checks that the document shows them
// verbatim), built with stand-ins for what they take from their surroundings; built, never run.
import Foundation
import StrataPostgres
import StrataRedis

func redis(bytes: [UInt8], keys: [String], entries: [(String, String)]) async throws {
let configuration = try RedisConfiguration(url: "redis://worker:secret@127.0.0.1:6379/0")
let connection = try await RedisConnection.connect(configuration)
try await connection.send("SET", "authz:user:42", RedisArgument(bytes), "EX", 300)
let cached = try await connection.send("GET", "authz:user:42").bytes      // [UInt8]?
let replies = try await connection.pipeline(keys.map { ["UNLINK", RedisArgument($0)] })
var batch = RedisCommandBuffer()                          // no array per command or argument
for (key, value) in entries {
    batch.beginCommand(argumentCount: 3)
    batch.appendArgument("SET"); batch.appendArgument(key); batch.appendArgument(value)
}
let stored = try await connection.pipeline(batch)        // one reply per command
var mget = RedisCommandBuffer()
mget.append(["MGET", "a", "b"])
let raw = try await connection.rawPipeline(mget)         // no RESPValue or [UInt8] per value
if let range = raw.range(of: raw.element(0, of: raw[0])) { use(raw.bytes[range]) }
await connection.close()
}

func postgres(cursor: Int64) async throws {
let connection = try await PostgresConnection.connect("postgresql://worker@127.0.0.1:5432/strata")
let rows = try await connection.query(
    "select seq, keys, created_at from strata.change_log where seq > $1 order by seq limit $2", cursor, 500)
for row in rows {
    let seq = try row.decode(Int64.self, at: 0)
    let keys = try row.decode([String].self, column: "keys")
    let at = try row.decode(Date.self, at: 2)
}
try await connection.listen("strata_changes")
for try await note in connection.notifications { wake(note.payload) }   // throws when the connection is lost
await connection.close()
}

func use(_ bytes: ArraySlice<UInt8>) {}
func wake(_ payload: String) {}
