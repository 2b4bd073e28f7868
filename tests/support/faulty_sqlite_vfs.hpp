#pragma once

// A SQLite VFS that forwards to the default one and, while "full", fails every write and truncate
// with SQLITE_FULL, as a full disk does (reads, locks and syncs still work). The agent journal's
// failing disk, the way fault_fs.hpp fails os::Fs calls: a test registers it, opens the journal
// with JournalOptions{.vfs = FaultySqliteVfs::kName} (AgentOptions::journal_vfs for a whole
// agent), and switches the fault on and off. Header-only.
//
// Thread-safety: Register once (it is idempotent and guarded); the switch is an atomic that every
// connection opened through the VFS sees at once.

#include <atomic>
#include <mutex>

#include <sqlite3.h>

namespace orb::testing {

class FaultySqliteVfs {
 public:
  static constexpr const char* kName = "orb-faulty";

  // Registers the VFS (not as the default). Idempotent.
  static void Register() {
    static std::once_flag once;
    std::call_once(once, [] {
      State& state = TheState();
      state.real = sqlite3_vfs_find(nullptr);
      state.vfs = *state.real;
      state.vfs.iVersion = 2;
      state.vfs.szOsFile = static_cast<int>(sizeof(File)) + state.real->szOsFile;
      state.vfs.pNext = nullptr;
      state.vfs.zName = kName;
      state.vfs.pAppData = nullptr;
      state.vfs.xOpen = &Open;
      state.vfs.xDelete = [](sqlite3_vfs*, const char* name, int sync_dir) {
        return Real()->xDelete(Real(), name, sync_dir);
      };
      state.vfs.xAccess = [](sqlite3_vfs*, const char* name, int flags, int* out) {
        return Real()->xAccess(Real(), name, flags, out);
      };
      state.vfs.xFullPathname = [](sqlite3_vfs*, const char* name, int size, char* out) {
        return Real()->xFullPathname(Real(), name, size, out);
      };
      state.vfs.xDlOpen = [](sqlite3_vfs*, const char* name) {
        return Real()->xDlOpen(Real(), name);
      };
      state.vfs.xDlError = [](sqlite3_vfs*, int size, char* out) {
        Real()->xDlError(Real(), size, out);
      };
      state.vfs.xDlSym = [](sqlite3_vfs*, void* handle, const char* symbol) {
        return Real()->xDlSym(Real(), handle, symbol);
      };
      state.vfs.xDlClose = [](sqlite3_vfs*, void* handle) { Real()->xDlClose(Real(), handle); };
      state.vfs.xRandomness = [](sqlite3_vfs*, int size, char* out) {
        return Real()->xRandomness(Real(), size, out);
      };
      state.vfs.xSleep = [](sqlite3_vfs*, int micros) { return Real()->xSleep(Real(), micros); };
      state.vfs.xCurrentTime = [](sqlite3_vfs*, double* out) {
        return Real()->xCurrentTime(Real(), out);
      };
      state.vfs.xGetLastError = [](sqlite3_vfs*, int size, char* out) {
        return Real()->xGetLastError(Real(), size, out);
      };
      state.vfs.xCurrentTimeInt64 = [](sqlite3_vfs*, sqlite3_int64* out) {
        return Real()->xCurrentTimeInt64(Real(), out);
      };
      sqlite3_vfs_register(&state.vfs, 0);
    });
  }

  // While true, writes and truncates fail with SQLITE_FULL.
  static void SetFull(bool full) { TheState().full.store(full); }
  // How many writes failed so far.
  static int failed_writes() { return TheState().failures.load(); }

 private:
  struct File {
    sqlite3_file base;
    sqlite3_file* real;  // the real VFS's file, in the same allocation right after this struct
  };
  struct State {
    sqlite3_vfs* real = nullptr;
    sqlite3_vfs vfs{};
    sqlite3_io_methods methods{};
    std::atomic<bool> full{false};
    std::atomic<int> failures{0};
  };
  static State& TheState() {
    static State state;
    return state;
  }
  static sqlite3_vfs* Real() { return TheState().real; }
  static sqlite3_file* RealFile(sqlite3_file* file) { return reinterpret_cast<File*>(file)->real; }
  static bool Fail() {
    if (!TheState().full.load()) return false;
    ++TheState().failures;
    return true;
  }

  static int Open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
    auto* wrapper = reinterpret_cast<File*>(file);
    wrapper->real = reinterpret_cast<sqlite3_file*>(wrapper + 1);
    const int rc = Real()->xOpen(Real(), name, wrapper->real, flags, out_flags);
    if (rc != SQLITE_OK || wrapper->real->pMethods == nullptr) {
      wrapper->base.pMethods = nullptr;
      return rc;
    }
    State& state = TheState();
    static std::once_flag once;
    std::call_once(once, [&] { state.methods = MakeMethods(wrapper->real->pMethods->iVersion); });
    wrapper->base.pMethods = &state.methods;
    return rc;
  }

  static sqlite3_io_methods MakeMethods(int version) {
    sqlite3_io_methods m{};
    m.iVersion = version;
    m.xClose = [](sqlite3_file* f) { return RealFile(f)->pMethods->xClose(RealFile(f)); };
    m.xRead = [](sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
      return RealFile(f)->pMethods->xRead(RealFile(f), buffer, amount, offset);
    };
    m.xWrite = [](sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
      if (Fail()) return SQLITE_FULL;
      return RealFile(f)->pMethods->xWrite(RealFile(f), buffer, amount, offset);
    };
    m.xTruncate = [](sqlite3_file* f, sqlite3_int64 size) {
      if (Fail()) return SQLITE_FULL;
      return RealFile(f)->pMethods->xTruncate(RealFile(f), size);
    };
    m.xSync = [](sqlite3_file* f, int flags) {
      return RealFile(f)->pMethods->xSync(RealFile(f), flags);
    };
    m.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) {
      return RealFile(f)->pMethods->xFileSize(RealFile(f), size);
    };
    m.xLock = [](sqlite3_file* f, int lock) {
      return RealFile(f)->pMethods->xLock(RealFile(f), lock);
    };
    m.xUnlock = [](sqlite3_file* f, int lock) {
      return RealFile(f)->pMethods->xUnlock(RealFile(f), lock);
    };
    m.xCheckReservedLock = [](sqlite3_file* f, int* out) {
      return RealFile(f)->pMethods->xCheckReservedLock(RealFile(f), out);
    };
    m.xFileControl = [](sqlite3_file* f, int op, void* arg) {
      return RealFile(f)->pMethods->xFileControl(RealFile(f), op, arg);
    };
    m.xSectorSize = [](sqlite3_file* f) { return RealFile(f)->pMethods->xSectorSize(RealFile(f)); };
    m.xDeviceCharacteristics = [](sqlite3_file* f) {
      return RealFile(f)->pMethods->xDeviceCharacteristics(RealFile(f));
    };
    if (version >= 2) {
      m.xShmMap = [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
        return RealFile(f)->pMethods->xShmMap(RealFile(f), page, size, extend, out);
      };
      m.xShmLock = [](sqlite3_file* f, int offset, int n, int flags) {
        return RealFile(f)->pMethods->xShmLock(RealFile(f), offset, n, flags);
      };
      m.xShmBarrier = [](sqlite3_file* f) { RealFile(f)->pMethods->xShmBarrier(RealFile(f)); };
      m.xShmUnmap = [](sqlite3_file* f, int remove) {
        return RealFile(f)->pMethods->xShmUnmap(RealFile(f), remove);
      };
    }
    if (version >= 3) {
      m.xFetch = [](sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
        return RealFile(f)->pMethods->xFetch(RealFile(f), offset, amount, out);
      };
      m.xUnfetch = [](sqlite3_file* f, sqlite3_int64 offset, void* page) {
        return RealFile(f)->pMethods->xUnfetch(RealFile(f), offset, page);
      };
    }
    return m;
  }
};

}  // namespace orb::testing
