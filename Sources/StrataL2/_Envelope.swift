import CStrataCRC32C
import CLZ4
import Crypto
import Foundation

/// The versioned envelope of an L2 value (docs/l2.md, "Envelope").
///
/// ```
/// 0      magic 0xC5
/// 1      format version (1)
/// 2      flags: 0x01 LZ4, 0x02 HMAC-SHA256, 0x04 AES-GCM
/// 3      codec id
/// 4      key id (0 = no key)
/// 5      n, number of generations (covering prefixes)
/// 6      n × Int64 big-endian generations, in covering-prefix order
/// 6+8n   written-at, Int64 big-endian milliseconds since the Unix epoch
/// 14+8n  payload length before compression, UInt32 big-endian
/// 18+8n  body: payload + CRC32C (4) | payload + HMAC-SHA256/128 (16) | nonce (12) + ciphertext + tag (16)
/// ```
enum _Envelope {
    static let magic: UInt8 = 0xC5
    static let version: UInt8 = 1
    static let flagLZ4: UInt8 = 0x01
    static let flagHMAC: UInt8 = 0x02
    static let flagAESGCM: UInt8 = 0x04
    static let macLength = 16
    static let nonceLength = 12
    static let tagLength = 16

    static func headerLength(generations: Int) -> Int { 18 + 8 * generations }

    /// Why a stored value was rejected; each one is a miss, and the value is deleted.
    enum Rejection: String, Error, Sendable {
        case truncated
        case badMagic = "bad_magic"
        case unknownVersion = "unknown_version"
        case checksum
        case forged
        case unknownKey = "unknown_key"
        case protectionMismatch = "protection_mismatch"
        case codecMismatch = "codec_mismatch"
        case decompression
        case undecodable
        case wrongType = "wrong_type"
    }

    /// The parsed fixed part of an entry (no verification yet). Offsets are into the
    /// array the entry was parsed from (the entry need not start at 0).
    struct Header {
        var flags: UInt8
        var codec: UInt8
        var keyID: UInt8
        var generationCount: Int
        var writtenAtMilliseconds: Int64
        var originalLength: Int
        /// Where the entry starts and the body starts.
        var start: Int
        var bodyStart: Int

        func generation(_ index: Int, in bytes: [UInt8]) -> Int64 { _Envelope.readInt64(bytes, at: start + 6 + 8 * index) }
    }

    // MARK: Encoding

    static func encode(
        payload: [UInt8], codec: UInt8, generations: [Int64], writtenAtMilliseconds: Int64,
        redisKey: [UInt8], protector: _Protector, compressionThreshold: Int
    ) -> [UInt8] {
        var flags: UInt8 = 0
        var body = payload
        if payload.count >= compressionThreshold, let compressed = compress(payload), compressed.count < payload.count {
            flags |= flagLZ4
            body = compressed
        }
        var keyID: UInt8 = 0
        switch protector.mode {
        case .none: break
        case .hmac(let key): flags |= flagHMAC; keyID = key.id
        case .aesGCM(let key): flags |= flagAESGCM; keyID = key.id
        }
        var out: [UInt8] = []
        out.reserveCapacity(headerLength(generations: generations.count) + body.count + nonceLength + tagLength)
        appendHeader(flags: flags, codec: codec, keyID: keyID, generations: generations,
                     writtenAtMilliseconds: writtenAtMilliseconds, payloadCount: payload.count, to: &out)
        switch protector.mode {
        case .none:
            out.append(contentsOf: body)
            let crc = checksum(redisKey: redisKey, out[...])
            appendUInt32(&out, crc)
        case .hmac(let key):
            out.append(contentsOf: body)
            let mac = authenticationCode(redisKey: redisKey, out[...], key: key.key)
            out.append(contentsOf: mac.prefix(macLength))
        case .aesGCM(let key):
            let aad = associatedData(redisKey: redisKey, header: out[...])
            // AES-GCM with a random 96-bit nonce; sealing only fails for invalid nonces.
            let sealed = try! AES.GCM.seal(body, using: key.key, nonce: AES.GCM.Nonce(), authenticating: aad)
            out.append(contentsOf: sealed.combined!)
        }
        return out
    }

    /// The header: magic, version, flags, codec, key id, the prefix generations, the write
    /// time and the payload's length.
    @inline(__always)
    private static func appendHeader<Generations: Collection<Int64>>(
        flags: UInt8, codec: UInt8, keyID: UInt8, generations: Generations, writtenAtMilliseconds: Int64,
        payloadCount: Int, to out: inout [UInt8]
    ) {
        out.append(magic)
        out.append(version)
        out.append(flags)
        out.append(codec)
        out.append(keyID)
        out.append(UInt8(generations.count))
        for generation in generations { appendInt64(&out, generation) }
        appendInt64(&out, writtenAtMilliseconds)
        appendUInt32(&out, UInt32(payloadCount))
    }

    /// The size of the entry ``append(payload:codec:generations:writtenAtMilliseconds:redisKey:protector:to:)``
    /// writes for a payload of `payloadCount` bytes, or nil when the entry is not written
    /// in place (the payload is to be compressed, or encrypted): use ``encode``.
    static func inPlaceLength(payloadCount: Int, generationCount: Int, protector: _Protector, compressionThreshold: Int) -> Int? {
        guard payloadCount < compressionThreshold else { return nil }
        switch protector.mode {
        case .none: return headerLength(generations: generationCount) + payloadCount + 4
        case .hmac: return headerLength(generations: generationCount) + payloadCount + macLength
        case .aesGCM: return nil
        }
    }

    /// Appends the entry of an uncompressed, unencrypted payload to `out` (what ``encode``
    /// returns for it, byte for byte), computing the checksum or MAC over the bytes where
    /// they are written. Only where ``inPlaceLength`` is not nil.
    static func append(
        payload: UnsafeRawBufferPointer, codec: UInt8, generations: UnsafeBufferPointer<Int64>, writtenAtMilliseconds: Int64,
        redisKey: [UInt8], protector: _Protector, to out: inout [UInt8]
    ) {
        let start = out.count
        var flags: UInt8 = 0
        var keyID: UInt8 = 0
        switch protector.mode {
        case .none: break
        case .hmac(let key): flags |= flagHMAC; keyID = key.id
        case .aesGCM: preconditionFailure("encrypted entries are not written in place")
        }
        appendHeader(flags: flags, codec: codec, keyID: keyID, generations: generations,
                     writtenAtMilliseconds: writtenAtMilliseconds, payloadCount: payload.count, to: &out)
        out.append(contentsOf: payload)
        switch protector.mode {
        case .none:
            let crc = out.withUnsafeBytes { checksum(redisKey: redisKey, UnsafeRawBufferPointer(rebasing: $0[start...])) }
            appendUInt32(&out, crc)
        case .hmac(let key):
            let mac = authenticationCode(redisKey: redisKey, out[start...], key: key.key)
            out.append(contentsOf: mac.prefix(macLength))
        case .aesGCM:
            break
        }
    }

    /// Writes the entry of an uncompressed payload without protection (`.none`) into `out`
    /// (exactly ``inPlaceLength`` bytes): what ``encode`` returns for it, byte for byte,
    /// the checksum continued from the key's ``keyChecksum(redisKey:)``.
    static func write(
        payload: UnsafeRawBufferPointer, codec: UInt8, generations: UnsafeBufferPointer<Int64>, writtenAtMilliseconds: Int64,
        keyChecksum: UInt32, to out: UnsafeMutableRawBufferPointer
    ) {
        let headerLength = headerLength(generations: generations.count)
        precondition(out.count == headerLength + payload.count + 4, "an in-place entry of the wrong size")
        let base = out.baseAddress!
        base.storeBytes(of: magic, as: UInt8.self)
        base.storeBytes(of: version, toByteOffset: 1, as: UInt8.self)
        base.storeBytes(of: 0, toByteOffset: 2, as: UInt8.self)       // flags
        base.storeBytes(of: codec, toByteOffset: 3, as: UInt8.self)
        base.storeBytes(of: 0, toByteOffset: 4, as: UInt8.self)       // key id
        base.storeBytes(of: UInt8(generations.count), toByteOffset: 5, as: UInt8.self)
        var offset = 6
        for generation in generations {
            base.storeBytes(of: generation.bigEndian, toByteOffset: offset, as: Int64.self)
            offset += 8
        }
        base.storeBytes(of: writtenAtMilliseconds.bigEndian, toByteOffset: offset, as: Int64.self)
        base.storeBytes(of: UInt32(payload.count).bigEndian, toByteOffset: offset + 8, as: UInt32.self)
        offset += 12
        if let source = payload.baseAddress, payload.count > 0 {
            (base + offset).copyMemory(from: source, byteCount: payload.count)
        }
        offset += payload.count
        let crc = checksum(keyChecksum: keyChecksum, UnsafeRawBufferPointer(start: base, count: offset))
        base.storeBytes(of: crc.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    // MARK: Decoding

    /// Parses the fixed header; checks magic, version and lengths only.
    static func parseHeader(_ bytes: [UInt8]) throws(Rejection) -> Header {
        try parseHeader(bytes, in: bytes.indices)
    }

    /// Parses the fixed header of the entry `bytes[entry]` (an entry inside a larger
    /// buffer, such as the replies of a batch).
    static func parseHeader(_ bytes: [UInt8], in entry: Range<Int>) throws(Rejection) -> Header {
        let start = entry.lowerBound
        guard entry.count >= 6 else { throw .truncated }
        guard bytes[start] == magic else { throw .badMagic }
        guard bytes[start + 1] == version else { throw .unknownVersion }
        let count = Int(bytes[start + 5])
        let length = headerLength(generations: count)
        guard entry.count >= length else { throw .truncated }
        let original = Int(readUInt32(bytes, at: start + length - 4))
        return Header(flags: bytes[start + 2], codec: bytes[start + 3], keyID: bytes[start + 4], generationCount: count,
                      writtenAtMilliseconds: readInt64(bytes, at: start + 6 + 8 * count), originalLength: original,
                      start: start, bodyStart: start + length)
    }

    /// Verifies the checksum, MAC or AEAD tag for `redisKey` and returns the payload
    /// (decrypted and decompressed).
    static func openPayload(_ bytes: [UInt8], header: Header, redisKey: [UInt8], protector: _Protector,
                            maximumSize: Int) throws(Rejection) -> [UInt8] {
        let (payload, range) = try openPayloadInPlace(bytes, header: header, redisKey: redisKey, protector: protector, maximumSize: maximumSize)
        return range == payload.indices ? payload : Array(payload[range])
    }

    /// As ``openPayload``, without copying a plain payload: the payload is `bytes[range]`
    /// of the returned array (the entry itself when neither compressed nor encrypted).
    static func openPayloadInPlace(_ bytes: [UInt8], header: Header, redisKey: [UInt8], keyChecksum: UInt32? = nil, protector: _Protector,
                                   maximumSize: Int) throws(Rejection) -> (bytes: [UInt8], range: Range<Int>) {
        try openPayloadInPlace(bytes, entry: bytes.indices, header: header, redisKey: redisKey, keyChecksum: keyChecksum,
                               protector: protector, maximumSize: maximumSize)
    }

    /// As above for the entry `bytes[entry]` (whose header is `header`).
    static func openPayloadInPlace(_ bytes: [UInt8], entry: Range<Int>, header: Header, redisKey: [UInt8], keyChecksum: UInt32? = nil,
                                   protector: _Protector, maximumSize: Int) throws(Rejection) -> (bytes: [UInt8], range: Range<Int>) {
        let known = flagLZ4 | flagHMAC | flagAESGCM
        guard header.flags & ~known == 0 else { throw .unknownVersion }
        let hmac = header.flags & flagHMAC != 0
        let gcm = header.flags & flagAESGCM != 0
        guard !(hmac && gcm) else { throw .forged }
        // The body: a range of `bytes`, or a decrypted copy.
        let body: [UInt8]
        let range: Range<Int>
        switch protector.mode {
        case .none:
            guard !hmac, !gcm, header.keyID == 0 else { throw .protectionMismatch }
            guard entry.upperBound >= header.bodyStart + 4 else { throw .truncated }
            let end = entry.upperBound - 4
            let computed = bytes.withUnsafeBytes { all in
                let data = UnsafeRawBufferPointer(rebasing: all[entry.lowerBound..<end])
                return keyChecksum.map { checksum(keyChecksum: $0, data) } ?? checksum(redisKey: redisKey, data)
            }
            guard computed == readUInt32(bytes, at: end) else { throw .checksum }
            (body, range) = (bytes, header.bodyStart..<end)
        case .hmac:
            guard hmac else { throw .protectionMismatch }
            guard let key = protector.verificationKey(header.keyID) else { throw .unknownKey }
            guard entry.upperBound >= header.bodyStart + macLength else { throw .truncated }
            let end = entry.upperBound - macLength
            let expected = authenticationCode(redisKey: redisKey, bytes[entry.lowerBound..<end], key: key)
            guard constantTimeEqual(expected.prefix(macLength), bytes[end..<entry.upperBound]) else { throw .forged }
            (body, range) = (bytes, header.bodyStart..<end)
        case .aesGCM:
            guard gcm else { throw .protectionMismatch }
            guard let key = protector.verificationKey(header.keyID) else { throw .unknownKey }
            guard entry.upperBound >= header.bodyStart + nonceLength + tagLength else { throw .truncated }
            let aad = associatedData(redisKey: redisKey, header: bytes[entry.lowerBound..<header.bodyStart])
            do {
                let box = try AES.GCM.SealedBox(combined: bytes[header.bodyStart..<entry.upperBound])
                body = Array(try AES.GCM.open(box, using: key, authenticating: aad))
                range = body.indices
            } catch {
                throw .forged
            }
        }
        if header.flags & flagLZ4 != 0 {
            guard header.originalLength <= maximumSize else { throw .decompression }
            let compressed = range == body.indices ? body : Array(body[range])
            guard let plain = decompress(compressed, originalLength: header.originalLength) else { throw .decompression }
            return (plain, plain.indices)
        }
        guard range.count == header.originalLength else { throw .truncated }
        return (body, range)
    }

    // MARK: Pieces

    static func compress(_ input: [UInt8]) -> [UInt8]? {
        guard input.count <= Int(LZ4_MAX_INPUT_SIZE) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var failed = false
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            let written = input.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { source in
                    buffer.withMemoryRebound(to: CChar.self) { target in
                        LZ4_compress_default(source.baseAddress, target.baseAddress, Int32(input.count), Int32(bound))
                    }
                }
            }
            failed = written <= 0
            count = max(0, Int(written))
        }
        return failed ? nil : out
    }

    static func decompress(_ input: [UInt8], originalLength: Int) -> [UInt8]? {
        guard originalLength > 0, input.count > 0 else { return originalLength == 0 ? [] : nil }
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: originalLength) { buffer, count in
            let written = input.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { source in
                    buffer.withMemoryRebound(to: CChar.self) { target in
                        LZ4_decompress_safe(source.baseAddress, target.baseAddress, Int32(input.count), Int32(originalLength))
                    }
                }
            }
            ok = Int(written) == originalLength
            count = ok ? originalLength : 0
        }
        return ok ? out : nil
    }

    static func keyPrefix(_ redisKey: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        let utf8 = redisKey
        out.reserveCapacity(4 + utf8.count)
        appendUInt32(&out, UInt32(utf8.count))
        out.append(contentsOf: utf8)
        return out
    }

    static func checksum(redisKey: [UInt8], _ data: ArraySlice<UInt8>) -> UInt32 {
        redisKey.withUnsafeBytes { key in data.withUnsafeBytes { checksum(redisKey: key, $0) } }
    }

    static func checksum(redisKey: [UInt8], _ data: UnsafeRawBufferPointer) -> UInt32 {
        redisKey.withUnsafeBytes { checksum(redisKey: $0, data) }
    }

    /// CRC32C of `len(redisKey) ‖ redisKey ‖ data` (`redisKey` as UTF-8 bytes).
    static func checksum(redisKey: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer) -> UInt32 {
        checksum(keyChecksum: keyChecksum(redisKey: redisKey), data)
    }

    /// The same checksum, continued from ``keyChecksum(redisKey:)`` of the key.
    @inline(__always)
    static func checksum(keyChecksum: UInt32, _ data: UnsafeRawBufferPointer) -> UInt32 {
        ~_CRC32C.update(keyChecksum, data)
    }

    /// The CRC32C state (not finalized) after `len(redisKey) ‖ redisKey`: what every
    /// checksum of an entry of that key starts with, so a key plan computes it once.
    static func keyChecksum(redisKey: UnsafeRawBufferPointer) -> UInt32 {
        let length = UInt32(redisKey.count)
        let lengthBytes: (UInt8, UInt8, UInt8, UInt8) = (UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                                                         UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length))
        let crc: UInt32 = withUnsafeBytes(of: lengthBytes) { _CRC32C.update(~0, $0) }
        return _CRC32C.update(crc, redisKey)
    }

    static func keyChecksum(redisKey: [UInt8]) -> UInt32 {
        redisKey.withUnsafeBytes { keyChecksum(redisKey: $0) }
    }

    static func authenticationCode(redisKey: [UInt8], _ data: ArraySlice<UInt8>, key: SymmetricKey) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: keyPrefix(redisKey))
        data.withUnsafeBytes { hmac.update(data: $0) }
        return Array(hmac.finalize())
    }

    static func associatedData(redisKey: [UInt8], header: ArraySlice<UInt8>) -> [UInt8] {
        keyPrefix(redisKey) + header
    }

    static func constantTimeEqual<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    @inline(__always) static func appendInt64(_ out: inout [UInt8], _ value: Int64) {
        withUnsafeBytes(of: UInt64(bitPattern: value).bigEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) static func appendUInt32(_ out: inout [UInt8], _ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    @inline(__always) static func readInt64(_ bytes: [UInt8], at offset: Int) -> Int64 {
        var value: UInt64 = 0
        for index in offset..<(offset + 8) { value = value << 8 | UInt64(bytes[index]) }
        return Int64(bitPattern: value)
    }

    @inline(__always) static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in offset..<(offset + 4) { value = value << 8 | UInt32(bytes[index]) }
        return value
    }

    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}

/// The configured protection, resolved for encoding and verification.
struct _Protector: Sendable {
    enum Mode: Sendable {
        case none
        case hmac(L2SecretKey)
        case aesGCM(L2SecretKey)
    }

    let mode: Mode
    private let keys: [UInt8: L2SecretKey]

    init(_ protection: L2Protection) throws(L2Error) {
        var all: [L2SecretKey] = []
        switch protection {
        case .none:
            mode = .none
        case .authenticated(let current, let previous):
            mode = .hmac(current)
            all = [current] + previous
        case .encrypted(let current, let previous):
            mode = .aesGCM(current)
            all = [current] + previous
            for key in all where ![16, 24, 32].contains(key.box.count) {
                throw L2Error(code: .invalidConfiguration, message: "AES-GCM key \(key.id) has \(key.box.count) bytes; use 16, 24 or 32")
            }
        }
        var keys: [UInt8: L2SecretKey] = [:]
        for key in all {
            guard keys.updateValue(key, forKey: key.id) == nil else {
                throw L2Error(code: .invalidConfiguration, message: "key id \(key.id) is configured twice; give every key its own id")
            }
        }
        self.keys = keys
    }

    func verificationKey(_ id: UInt8) -> SymmetricKey? { keys[id]?.key }
}

/// CRC32C (Castagnoli): the CPU's instruction where there is one (x86-64 SSE4.2, ARMv8
/// CRC; about 8 bytes per cycle), else slicing-by-8 (eight 256-entry tables, eight bytes
/// per step).
enum _CRC32C {
    static let hardware = strata_crc32c_hardware_available() != 0

    /// `tables[k * 256 + b]`: the CRC of byte `b` followed by `k` zero bytes.
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[index] = crc
        }
        for index in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    static func update(_ crc: UInt32, _ data: ArraySlice<UInt8>) -> UInt32 {
        data.withUnsafeBytes { update(crc, $0) }
    }

    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        if hardware { return strata_crc32c_hardware_update(crc, base, bytes.count) }
        return updateWithTables(crc, bytes)
    }

    /// The table-driven CRC, for CPUs without the instruction (and to test against it).
    static func updateWithTables(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        var crc = crc
        var offset = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            while count - offset >= 8 {
                let word = UInt64(littleEndian: (base + offset).loadUnaligned(as: UInt64.self)) ^ UInt64(crc)
                crc = t[7 * 256 + Int(word & 0xFF)] ^ t[6 * 256 + Int((word >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((word >> 16) & 0xFF)] ^ t[4 * 256 + Int((word >> 24) & 0xFF)]
                    ^ t[3 * 256 + Int((word >> 32) & 0xFF)] ^ t[2 * 256 + Int((word >> 40) & 0xFF)]
                    ^ t[1 * 256 + Int((word >> 48) & 0xFF)] ^ t[Int(word >> 56)]
                offset += 8
            }
            while offset < count {
                crc = t[Int((crc ^ UInt32(base.load(fromByteOffset: offset, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
        }
        return crc
    }
}
