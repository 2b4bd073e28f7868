#pragma once

// orb-jobs-agent's main loop (protocol.md §4): start-up recovery, hello, then notify long-poll
// (or plain polling every random pollIntervalSeconds when longPoll is off), jobs/next at start-up,
// when notify reports pending > 0 with a free slot, and after every finished run; cancels from
// notify go to the executor. Stop() (SIGTERM) stops asking for jobs, cancels cancellable runs,
// waits (bounded) for the rest, flushes the journal and makes Run() return.
//
// Health (docs/reliability.md "The agent"): while the journal cannot be written the agent asks for
// no jobs, reports itself unhealthy (POST .../status after hello, on every change, every
// heartbeatSeconds while unhealthy; an older fleet-cmdr's 404 is logged once and the call is not
// made again), and takes jobs again once the reporter wrote the journal again.
//
// Thread-safety: Run() on one thread; Stop() and the accessors from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/health.hpp"
#include "agent/inventory.hpp"
#include "agent/server_failover.hpp"
#include "common/clock.hpp"
#include "common/expected.hpp"
#include "jobs/job_handler.hpp"
#include "net/service_notifier.hpp"
#include "protocol/types.hpp"

namespace orb::agent {

class ControlPlane;
struct CallHooks;

struct AgentOptions {
  AgentConfig config;
  std::string token;
  std::string version = "0.0.0";
  std::chrono::milliseconds shutdown_drain{std::chrono::seconds(20)};  // wait for runs on Stop
  std::chrono::milliseconds flush_timeout{std::chrono::seconds(5)};    // then for the outbox
  std::chrono::milliseconds lock_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds timeout_grace{std::chrono::seconds(30)};
  std::chrono::milliseconds retry_initial_delay{500};
  std::chrono::milliseconds retry_max_delay{std::chrono::seconds(10)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  FailoverOptions failover{};  // over config.servers (agent/server_failover.hpp)

  // A failing disk (docs/reliability.md "The agent"): how often the journal is tried again, and
  // the SQLite VFS it is opened with (empty: the default; tests name one that fails writes).
  std::chrono::milliseconds journal_retry{std::chrono::seconds(5)};
  std::string journal_vfs{};
};

class Agent {
 public:
  // `notifier` may be null (no service manager). `clock` must outlive every run, also one that
  // outlasts Run() (see Run); RealClock() does.
  Agent(AgentOptions options, std::vector<std::unique_ptr<jobs::JobHandler>> handlers,
        const Clock& clock, net::ServiceNotifier* notifier = nullptr);
  // May run while a run that outlasted Run() still goes: nothing of that run refers to the Agent.
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until Stop(). Errors: kIo when stateDir, root or the journal cannot be set up. Returns Ok
  // after a clean drain, also when some non-cancellable run was still going (see drained()): such
  // a run goes on, with the executor, the reporter and the journal, which a thread of their own
  // frees once it ended (its final stays in the journal for the next start). The program exits
  // before that (std::_Exit); an Agent in a test may be destroyed before that.
  Status Run();
  void Stop();

  // After Run(): true when every run had ended before it returned.
  [[nodiscard]] bool drained() const { return drained_.load(); }
  // True once hello succeeded (readiness).
  [[nodiscard]] bool ready() const { return ready_.load(); }
  // What hello handed out (defaults until then).
  [[nodiscard]] protocol::HelloResponse settings() const;
  // How many jobs/next and notify calls were made (for tests of the loop).
  [[nodiscard]] int next_calls() const { return next_calls_.load(); }
  [[nodiscard]] int notify_calls() const { return notify_calls_.load(); }
  // Whether the agent has no problem now (it then takes jobs), and how many status reports it
  // tried to send.
  [[nodiscard]] bool healthy() const { return health_.healthy(); }
  [[nodiscard]] int status_calls() const { return status_calls_.load(); }
  // How many inventory reports it tried to send.
  [[nodiscard]] int inventory_calls() const { return inventory_calls_.load(); }
  // The fleet-cmdr URL the agent talks to now (one of config.servers).
  [[nodiscard]] std::string server() const { return servers_->Current().url; }

 private:
  // What the executor's and the reporter's threads call back into; Run() cuts it off before it
  // returns, so a run that outlasts Run() never reaches the Agent.
  class Callbacks;
  void OnRunDone();
  // The reporter saw the journal fail or work again.
  void OnJournalHealth(bool writable, const std::string& problem);
  // Sends the status report when StatusSchedule says it is due.
  void ReportStatusIfDue(StatusSchedule& schedule, const CallHooks& hooks);
  // The reporter's duty (on its thread): collects the host inventory when a check is due and,
  // when it changed (agent/inventory.hpp), hands it to the loop and wakes it.
  void CheckInventory();
  // The loop: sends the inventory CheckInventory handed over, if any; a failed send is handed
  // over again by the next check.
  void SendInventoryIfPending(const CallHooks& hooks);
  bool Stopping() const { return stopping_.load(); }
  // Waits on the loop's condition until `timeout`, Stop() or a finished run.
  void Pause(std::chrono::milliseconds timeout);

  AgentOptions options_;
  std::vector<std::unique_ptr<jobs::JobHandler>> handlers_;
  const Clock& clock_;
  net::ServiceNotifier* notifier_;
  std::shared_ptr<ServerSet> servers_;  // shared by loop_api_ and the reporter's plane
  std::unique_ptr<ControlPlane> loop_api_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool next_wanted_ = false;     // a run finished: ask jobs/next
  bool health_changed_ = false;  // report it, and ask jobs/next when healthy again
  bool in_notify_ = false;       // the loop is inside a notify call (interruptible)
  protocol::HelloResponse settings_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> drained_{false};
  std::atomic<bool> ready_{false};
  std::atomic<int> next_calls_{0};
  std::atomic<int> notify_calls_{0};
  std::atomic<int> status_calls_{0};
  std::atomic<int> inventory_calls_{0};
  std::atomic<bool> inventory_wanted_{false};  // a run ended: look at the inventory again
  std::optional<protocol::HostInventory> inventory_to_send_;  // guarded by mutex_
  std::mutex inventory_mutex_;
  InventorySchedule inventory_schedule_{std::chrono::seconds(15)};  // guarded by inventory_mutex_
  AgentHealth health_;
};

}  // namespace orb::agent
