// The day's recovery section (issue 11), on its own data directory so the day's app is untouched:
// a store file whose header broke is moved aside and refused with Corrupt(movedTo); the next open
// is fresh, and recoverMovedAside brings the visits and their owed uploads back, once (a second
// call imports nothing); a key store that lost the seal key gives KeyMissing, creates no key and
// leaves the database's bytes as they were.
package homevisit.test

import java.io.File
import java.io.RandomAccessFile
import kotlinx.coroutines.runBlocking
import tw.homevisit.ffi.*

/** A key store that lost one key: it finds nothing under [forgotten], and would create a new one. */
class ForgetfulKeyStore(private val inner: KotlinKeyStore, private val forgotten: String) : HostKeyStore {
    var created = 0
    override fun getOrCreateKey(alias: String): ByteArray =
        if (alias == forgotten) { created++; ByteArray(32) { 0x55 } } else inner.getOrCreateKey(alias)
    override fun getKey(alias: String): ByteArray? = if (alias == forgotten) null else inner.getKey(alias)
}

fun recoverySection(day: Day) {
    val dir = File(day.work, "recovery").apply { deleteRecursively(); mkdirs() }
    val config = AppConfig(dataDir = dir.path, institutionCode = "3501200000", deviceId = "kotlin-recovery")
    val keys = KotlinKeyStore(seed = 21)
    val db = File(dir, "homevisit.db")

    val first = attempt("recovery: open a store") { HomeVisitApp.open(config, keys) } ?: return
    val recorded = attempt("recovery: record two visits") {
        runBlocking { listOf(first.recordVisit(card(), details("0001")), first.recordVisit(card(), details("0002"))) }
    } ?: return
    first.close()

    // The file's header breaks.
    RandomAccessFile(db, "rw").use { it.seek(0); it.write("garbage-garbage!".toByteArray()) }
    var movedTo = ""
    expectError("recovery: a broken store → Corrupt(movedTo) (code corrupt)", {
        if (it is HomeVisitException.Corrupt) movedTo = it.movedTo
        it is HomeVisitException.Corrupt && it.movedTo.isNotEmpty() && errorCode(it) == "corrupt"
    }) { HomeVisitApp.open(config, keys) }
    check("recovery: the broken file was moved, not deleted", File(movedTo).exists(), movedTo)

    val app = attempt("recovery: the next open is a fresh store") { HomeVisitApp.open(config, keys) } ?: return
    check("recovery: the fresh store is empty", runBlocking { app.listVisits(10u, 0u) }.isEmpty())
    check("recovery: movedAsideDatabases() names the moved file", app.movedAsideDatabases() == listOf(movedTo),
        "${app.movedAsideDatabases()}")
    val out = attempt("recovery: recoverMovedAside") { runBlocking { app.recoverMovedAside(movedTo) } }
    check("recovery: both visits and both owed uploads come back",
        out != null && out.visitsFound == 2u && out.visitsImported == 2u && out.uploadsQueued == 2u && out.complete,
        "$out")
    val codes = runBlocking { app.listVisits(10u, 0u) }.map { it.visitCode }.toSet()
    check("recovery: the same visit codes", codes == recorded.map { it.visitCode }.toSet(), "$codes")
    check("recovery: two uploads queued", app.outboxCounts().queued == 2u, "${app.outboxCounts()}")
    val again = attempt("recovery: recoverMovedAside again") { runBlocking { app.recoverMovedAside(movedTo) } }
    check("recovery: a second recovery imports nothing", again != null && again.visitsImported == 0u &&
        runBlocking { app.listVisits(10u, 0u) }.size == 2, "$again")
    val next = attempt("recovery: a visit after recovery") { runBlocking { app.recordVisit(card(), details("0003")) } }
    check("recovery: its code is new", next != null && next.visitCode !in codes, "${next?.visitCode}")
    expectError("recovery: a path that is not a moved-aside database → Validation(moved_to)", {
        it is HomeVisitException.Validation && it.field == "moved_to"
    }) { runBlocking { app.recoverMovedAside(db.path) } }
    app.close()

    // The key store lost the seal key: its own error, no key made, not a byte of the store changed.
    val before = db.readBytes()
    val forgetful = ForgetfulKeyStore(KotlinKeyStore(seed = 21), "store-seal-v1")
    expectError("recovery: a lost seal key → KeyMissing(store-seal-v1) (code key_missing)", {
        it is HomeVisitException.KeyMissing && it.alias == "store-seal-v1" && errorCode(it) == "key_missing"
    }) { HomeVisitApp.open(config, forgetful) }
    check("recovery: no key was created in its place", forgetful.created == 0, "created=${forgetful.created}")
    check("recovery: the database is byte-identical", db.readBytes().contentEquals(before))
    check("recovery: key_missing is a listed code", errorCodes().contains("key_missing"))
    check("recovery: a drain can stop on a certificate mismatch",
        DrainStopReason.values().contains(DrainStopReason.CERTIFICATE_MISMATCH) &&
            !day.app.syncService().certificateMismatch())
}
