/*
 * Minimal bcryptprimitives.dll for running Rust test binaries under Wine 8.
 *
 * Since Rust 1.78 the Windows standard library (and getrandom) take their
 * randomness from ProcessPrng in bcryptprimitives.dll. Wine 8 ships no such
 * DLL, so every Rust binary fails to start. This stub exports ProcessPrng and
 * forwards to BCryptGenRandom, which Wine does implement.
 *
 * Built and installed into the test WINEPREFIX by `cargo xtask test`; never
 * shipped with netipc.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
    /* BCryptGenRandom takes a ULONG length, so feed huge buffers in chunks. */
    while (cbData > 0) {
        ULONG chunk = cbData > 0x40000000 ? 0x40000000 : (ULONG)cbData;
        NTSTATUS status = BCryptGenRandom(NULL, pbData, chunk,
                                          BCRYPT_USE_SYSTEM_PREFERRED_RNG);
        if (!BCRYPT_SUCCESS(status)) {
            return FALSE;
        }
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}
