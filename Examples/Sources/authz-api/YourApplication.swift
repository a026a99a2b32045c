// What an application supplies itself around the README's route (API.swift): this
// example's versions, so that it builds and runs. Replace them with your own.
import Foundation
import Hummingbird
import StrataPostgres

/// The L2 key: 32 bytes as 64 hex digits in STRATA_L2_SECRET (an application reads it
/// from its secret store).
func loadSecret() throws -> [UInt8] {
    guard let hex = ProcessInfo.processInfo.environment["STRATA_L2_SECRET"] else {
        throw ExampleError("STRATA_L2_SECRET is not set: give the L2 key as 64 hex digits (e.g. `openssl rand -hex 32`)")
    }
    var bytes: [UInt8] = []
    var digits = hex.utf8.makeIterator()
    while let high = digits.next() {
        guard let low = digits.next(), let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else {
            throw ExampleError("STRATA_L2_SECRET must be hex digits (an even number of them)")
        }
        bytes.append(value)
    }
    return bytes
}

/// The caller's user id from the `X-User-Id` header, 0 (anonymous) without one. For the
/// example only: an application takes the id from a verified session or token.
func authenticatedUser(_ request: Request) throws -> Int64 {
    guard let header = request.headers[.init("X-User-Id")!] else { return 0 }
    guard let user = Int64(header), user > 0 else { throw HTTPError(.badRequest, message: "X-User-Id must be a positive user id") }
    return user
}

/// The application's own write; the capture trigger on `authz.generations` records what
/// it invalidates in the same transaction.
func deleteGeneration(_ id: Int64, in postgresURL: String) async throws {
    let connection = try await PostgresConnection.connect(postgresURL)
    do {
        _ = try await connection.query("delete from authz.generations where id = $1", id)
    } catch {
        await connection.close()
        throw error
    }
    await connection.close()
}

struct ExampleError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
