#include "server/history_api.hpp"

#include <utility>

#include "protocol/stats_history.hpp"

namespace orb::server {

void HistoryApi::RegisterRoutes(Router& router) {
  router.Add({"GET", "/v1/stats/history", RouteClass::kViewerRead},
             [this](Call&& call) { History(std::move(call)); });
}

void HistoryApi::History(Call&& call) {
  auto minutes =
      QueryInt(call.request, "minutes", protocol::kHistoryMinMinutes, protocol::kHistoryMaxMinutes);
  if (!minutes) return ReplyError(call.responder, minutes.error());
  deps_.calls.OnWorker(
      call.responder,
      [this, responder = call.responder,
       minutes = static_cast<int>(minutes->value_or(protocol::kHistoryDefaultMinutes))] {
        auto history = deps_.store.ReadHistory(deps_.clock.WallNow(), minutes);
        if (!history) return ReplyError(responder, history.error());
        Reply(responder, 200, protocol::ToJson(*history));
      });
}

}  // namespace orb::server
