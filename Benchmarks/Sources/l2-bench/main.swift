import Foundation

// l2-bench: the L2 cache through the library against redis-benchmark on the same server
// (driven by scripts/bench-l2.sh), and the codecs' cost.
//
//   l2-bench codec [--rounds 5]
//   l2-bench sizes [--url redis://…] [--value struct|fast|bytes]  payload and stored sizes, and the
//     TTL the writes set (ms): SIZES payload envelope ttl-ms
//   l2-bench MODE [--url redis://…] [--requests 100000] [--batch 16] [--value struct|fast|bytes] [--keys 1000]
//     MODE: get-sync set-sync getmany-sync setmany-sync (blocking calls on one connection),
//           get-async set-async getmany-async setmany-async (async calls, pool of one connection),
//           raw-get-sync raw-getmget-sync (the client alone: GET; GET + MGET of the generations)
//   prints: RESULT MODE-VALUE ops/s process-CPU-µs/op
//           CPU MODE-VALUE user µs/op system µs/op   (the same CPU time split, from getrusage)
//   --value struct: a 6-field struct, 100-byte payload; fast: the same struct through the codec's
//     fast path (L2BinaryCodable); bytes: a [UInt8] blob, 100-byte payload
//   --keys: how many distinct keys the calls cycle through (redis-benchmark's -r; default 1000)

signal(SIGPIPE, SIG_IGN)
var mode = "codec"
var rounds = 5
var redis = RedisBench()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    case "--url": redis.url = arguments.next() ?? redis.url
    case "--requests": redis.requests = Int(arguments.next() ?? "") ?? redis.requests
    case "--batch": redis.batch = Int(arguments.next() ?? "") ?? redis.batch
    case "--value": redis.valueKind = arguments.next() ?? redis.valueKind
    case "--keys": redis.keyCount = max(1, Int(arguments.next() ?? "") ?? redis.keyCount)
    default: mode = argument
    }
}
switch mode {
case "codec": try runCodec(rounds: rounds)
case "codec-loop-encode", "codec-loop-decode", "codec-loop-catalog": try runCodecLoop(mode, iterations: 1_000_000 / (mode == "codec-loop-catalog" ? 50 : 1))
case "sizes":
    let sizes = try await redis.sizes()
    print("SIZES \(sizes.payload) \(sizes.envelope) \(redis.ttlMilliseconds)")
default: try await redis.run(mode)
}
