#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the closure a new thread runs.
private final class _ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// Starts a detached OS thread running `body`. `name` names the thread on Darwin
/// (Glibc's `pthread_setname_np` is not visible to Swift) and appears in errors.
func _spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(RedisError) {
    let box = Unmanaged.passRetained(_ThreadBody(name: name, body: body))
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let rc = pthread_create(&thread, &attributes, { raw in
        #if canImport(Darwin)
        let box = Unmanaged<_ThreadBody>.fromOpaque(raw).takeRetainedValue()
        #else
        let box = Unmanaged<_ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        #endif
        #if canImport(Darwin)
        pthread_setname_np(String(box.name.utf8.prefix(15)) ?? "strata-redis")
        #endif
        // hiredis 0.14 writes with write(2): a write to a connection the server closed
        // raises SIGPIPE, which would kill the process. Blocked here, the signal stays
        // pending on this thread (which never unblocks it) and write returns EPIPE.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        box.body()
        return nil
    }, box.toOpaque())
    if rc != 0 {
        box.release()
        throw RedisError(code: .connectionFailed, message: "cannot start the I/O thread \(name): \(String(cString: strerror(rc)))")
    }
}
