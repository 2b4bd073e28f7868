// fleetctl completion bash|zsh: prints the shell completion script generated from fleetctl's own
// command tree (cli/completion.hpp). Hidden from --help: it is for packagers and dotfiles
//   fleetctl completion bash > /usr/share/bash-completion/completions/fleetctl
//   fleetctl completion zsh > /usr/share/zsh/vendor-completions/_fleetctl
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/completion.hpp"
#include "cli/context.hpp"
#include "cli/exit_codes.hpp"

namespace orb::cli {

void AddCompletionCommand(CLI::App& app, Context& ctx) {
  auto shell = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("completion", "Print the shell completion script");
  sub->group("");  // hidden
  sub->add_option("SHELL", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  sub->callback([&app, &ctx, shell] {
    ctx.run = [&app, &ctx, shell] {
      const auto tree = DescribeCommands(app);
      ctx.out() << (*shell == "bash" ? BashCompletion(tree) : ZshCompletion(tree));
      return kExitOk;
    };
  });
}

}  // namespace orb::cli
