#include "server/inventory_api.hpp"

#include <string>
#include <utility>

#include "common/log.hpp"
#include "protocol/inventory.hpp"

namespace orb::server {

void InventoryApi::RegisterRoutes(Router& router) {
  router.Add({"POST", "/v1/agents/{agentId}/inventory", RouteClass::kAgentOwn, BodyKind::kJson},
             [this](Call&& call) { Put(std::move(call)); });
  router.Add({"GET", "/v1/agents/{agentId}/inventory", RouteClass::kViewerRead},
             [this](Call&& call) { Get(std::move(call)); });
}

void InventoryApi::Put(Call&& call) {
  auto inventory = protocol::ParseHostInventory(call.request.body);
  if (!inventory) return ReplyError(call.responder, inventory.error());
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.presence.MarkSeen(agent_id);
  deps_.calls.OnWorker(
      call.responder, [this, responder = call.responder, agent_id = std::move(agent_id),
                       inventory = std::move(*inventory)] {
        auto result = deps_.store.PutInventory(agent_id, inventory, deps_.clock.WallNow());
        if (!result) return ReplyError(responder, result.error());
        deps_.publisher.Publish(*result);
        if (result->value) {
          const auto summary = protocol::Summarize(inventory);
          GetLogger("fleet-cmdr")
              ->info("agentId={} inventory: {} servers, {}, {} backups", agent_id,
                     inventory.servers.size(), protocol::InventoryEventMessage(summary),
                     inventory.backups.size());
        }
        ReplyNoContent(responder);
      });
}

void InventoryApi::Get(Call&& call) {
  std::string agent_id(call.Param(kAgentIdParam));
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, agent_id = std::move(agent_id)] {
                         auto inventory = deps_.store.GetInventory(agent_id);
                         if (!inventory) return ReplyError(responder, inventory.error());
                         Reply(responder, 200, protocol::ToJson(*inventory));
                       });
}

}  // namespace orb::server
