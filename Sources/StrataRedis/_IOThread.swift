#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A dedicated OS thread running submitted jobs one at a time in FIFO order.
///
/// The blocking I/O of a connection's async API runs here when it cannot finish within
/// the short inline wait on the caller's thread (a slow reply, large output, a busy
/// connection), so Swift's cooperative pool never waits long on a socket.
/// After ``stop()`` no new jobs are accepted; jobs already queued still run, then the
/// thread exits.
final class _IOThread: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    // `jobs` and `stopRequested` are guarded by `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var jobs: [Job] = []
    private var stopRequested = false

    init(name: String) throws(RedisError) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        try _spawnThread(name: name) { [self] in self.run() }
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Queues `job`; returns `false` (and drops it) once ``stop()`` was called.
    func submit(_ job: @escaping Job) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if stopRequested { return false }
        jobs.append(job)
        if jobs.count == 1 { pthread_cond_signal(condition) }
        return true
    }

    /// Lets queued jobs finish, then ends the thread. Idempotent.
    func stop() {
        pthread_mutex_lock(mutex)
        stopRequested = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func run() {
        var batch: [Job] = []
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty && !stopRequested {
                pthread_cond_wait(condition, mutex)
            }
            if jobs.isEmpty {
                pthread_mutex_unlock(mutex)
                return
            }
            swap(&batch, &jobs)
            pthread_mutex_unlock(mutex)
            for job in batch { job() }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
