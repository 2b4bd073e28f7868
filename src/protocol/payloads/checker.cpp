#include "protocol/payloads/checker.hpp"

#include <limits>

#include "common/ids.hpp"

namespace orb::protocol::payloads {
namespace {

namespace json = boost::json;

// The direct children of `prefix` ("" for the top level, "artifact.", "mods[]."): names that
// continue it with one plain key (no further '.' and no "[]").
bool IsDirectChild(std::string_view name, std::string_view prefix) {
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
  const std::string_view rest = name.substr(prefix.size());
  return rest.find('.') == std::string_view::npos && rest.find("[]") == std::string_view::npos;
}

const PayloadField* FindField(std::span<const PayloadField> fields, std::string_view name) {
  for (const auto& field : fields) {
    if (field.name == name) return &field;
  }
  return nullptr;
}

bool HasChildren(std::span<const PayloadField> fields, std::string_view prefix) {
  for (const auto& field : fields) {
    if (IsDirectChild(field.name, prefix)) return true;
  }
  return false;
}

std::string RangeText(std::string_view what, const PayloadField& field) {
  std::string text{what};
  if (field.min && field.max) {
    text += " between " + std::to_string(*field.min) + " and " + std::to_string(*field.max);
  } else if (field.min) {
    text += " >= " + std::to_string(*field.min);
  } else if (field.max) {
    text += " <= " + std::to_string(*field.max);
  }
  return text;
}

// "must have at least 1 item", "must be at most 1024 characters long", ...
std::optional<std::string> CountProblem(std::int64_t count, const PayloadField& field,
                                        std::string_view unit) {
  if (field.min && count < *field.min) {
    if (*field.min == 1 && unit == "characters") return "must not be empty";
    return "must have at least " + std::to_string(*field.min) + " " + std::string(unit);
  }
  if (field.max && count > *field.max) {
    return "must have at most " + std::to_string(*field.max) + " " + std::string(unit);
  }
  return std::nullopt;
}

class SchemaChecker {
 public:
  SchemaChecker(std::span<const PayloadField> fields, Problems& problems)
      : fields_(fields), problems_(problems) {}

  void CheckObject(const json::object& object, std::string_view prefix, std::string_view path) {
    for (const auto& field : fields_) {
      if (!IsDirectChild(field.name, prefix)) continue;
      const std::string_view key = field.name.substr(prefix.size());
      const json::value* value = object.if_contains(key);
      if (value == nullptr) {
        if (field.required) Add(FieldPath(path, key), "is required");
        continue;
      }
      CheckValue(field, *value, FieldPath(path, key));
    }
    for (const auto& entry : object) {
      const std::string_view key = entry.key();
      const PayloadField* known = nullptr;
      for (const auto& field : fields_) {
        if (IsDirectChild(field.name, prefix) && field.name.substr(prefix.size()) == key) {
          known = &field;
          break;
        }
      }
      if (known == nullptr) Add(FieldPath(path, key), "is not a known field");
    }
  }

 private:
  void Add(std::string path, std::string problem) {
    problems_.push_back(FieldProblem{std::move(path), std::move(problem)});
  }

  bool CheckString(const PayloadField& field, const json::value& value, const std::string& path,
                   std::string_view kind_text) {
    if (!value.is_string()) {
      Add(path, "must be " + std::string(kind_text));
      return false;
    }
    const auto size = static_cast<std::int64_t>(value.get_string().size());
    if (auto problem = CountProblem(size, field, "characters")) {
      Add(path, std::move(*problem));
      return false;
    }
    return true;
  }

  void CheckValue(const PayloadField& field, const json::value& value, const std::string& path) {
    if (value.is_null() && field.nullable) return;
    switch (field.kind) {
      case FieldKind::kString: CheckString(field, value, path, "a string"); break;
      case FieldKind::kInteger: {
        const auto number = AsInt64(value);
        if (!number || (field.min && *number < *field.min) || (field.max && *number > *field.max)) {
          Add(path, RangeText("must be an integer", field));
        }
        break;
      }
      case FieldKind::kBoolean:
        if (!value.is_bool()) Add(path, "must be true or false");
        break;
      case FieldKind::kEnum: {
        bool found = false;
        if (value.is_string()) {
          for (const auto option : field.enum_values)
            found = found || value.get_string() == option;
        }
        if (!found) {
          std::string text = "must be one of ";
          for (std::size_t i = 0; i < field.enum_values.size(); ++i) {
            if (i > 0) text += ", ";
            text += field.enum_values[i];
          }
          Add(path, std::move(text));
        }
        break;
      }
      case FieldKind::kUrl:
        if (CheckString(field, value, path, "a URL string")) {
          if (auto problem = UrlProblem(value.get_string())) Add(path, std::move(*problem));
        }
        break;
      case FieldKind::kSha256:
        if (!value.is_string() || !IsSha256Hex(value.get_string())) {
          Add(path, "must be a sha256: 64 lower-case hex digits");
        }
        break;
      case FieldKind::kName:
        if (!value.is_string() || !IsValidName(value.get_string())) {
          Add(path, "must be a name matching ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
        }
        break;
      case FieldKind::kPath:
        if (!value.is_string()) {
          Add(path, "must be a relative path string");
        } else if (auto problem = RelativePathProblem(value.get_string())) {
          Add(path, std::move(*problem));
        }
        break;
      case FieldKind::kObject:
        if (!value.is_object()) {
          Add(path, "must be an object");
        } else {
          CheckObject(value.get_object(), std::string(field.name) + ".", path);
        }
        break;
      case FieldKind::kArray: CheckArray(field, value, path); break;
      case FieldKind::kStringMap: CheckStringMap(field, value, path); break;
    }
  }

  void CheckArray(const PayloadField& field, const json::value& value, const std::string& path) {
    if (!value.is_array()) {
      Add(path, "must be an array");
      return;
    }
    const json::array& array = value.get_array();
    if (auto problem = CountProblem(static_cast<std::int64_t>(array.size()), field, "items")) {
      Add(path, std::move(*problem));
      return;
    }
    const std::string item_name = std::string(field.name) + "[]";
    const PayloadField* scalar_item = FindField(fields_, item_name);
    const std::string object_prefix = item_name + ".";
    const bool object_items = HasChildren(fields_, object_prefix);
    for (std::size_t i = 0; i < array.size(); ++i) {
      const std::string item_path = IndexPath(path, i);
      if (scalar_item != nullptr) {
        CheckValue(*scalar_item, array[i], item_path);
      } else if (object_items) {
        if (!array[i].is_object()) {
          Add(item_path, "must be an object");
        } else {
          CheckObject(array[i].get_object(), object_prefix, item_path);
        }
      }
    }
  }

  void CheckStringMap(const PayloadField& field, const json::value& value,
                      const std::string& path) {
    if (!value.is_object()) {
      Add(path, "must be an object of strings");
      return;
    }
    const json::object& map = value.get_object();
    if (auto problem = CountProblem(static_cast<std::int64_t>(map.size()), field, "entries")) {
      Add(path, std::move(*problem));
      return;
    }
    for (const auto& entry : map) {
      const std::string entry_path = FieldPath(path, entry.key());
      if (entry.key().empty() || entry.key().size() > kMaxMapKey) {
        Add(entry_path, "keys must have 1 to " + std::to_string(kMaxMapKey) + " characters");
      }
      if (!entry.value().is_string()) {
        Add(entry_path, "must be a string");
      } else if (entry.value().get_string().size() > kMaxMapValue) {
        Add(entry_path, "must have at most " + std::to_string(kMaxMapValue) + " characters");
      }
    }
  }

  static constexpr std::size_t kMaxMapKey = 256;
  static constexpr std::size_t kMaxMapValue = 4096;

  std::span<const PayloadField> fields_;
  Problems& problems_;
};

void FillObject(json::object& object, std::span<const PayloadField> fields,
                std::string_view prefix) {
  for (const auto& field : fields) {
    if (!IsDirectChild(field.name, prefix)) continue;
    const std::string_view key = field.name.substr(prefix.size());
    json::value* value = object.if_contains(key);
    if (value == nullptr) {
      if (!field.default_value.empty()) object[key] = json::parse(field.default_value);
      continue;
    }
    if (field.kind == FieldKind::kObject && value->is_object()) {
      FillObject(value->get_object(), fields, std::string(field.name) + ".");
    } else if (field.kind == FieldKind::kArray && value->is_array()) {
      const std::string item_prefix = std::string(field.name) + "[].";
      if (!HasChildren(fields, item_prefix)) continue;
      for (auto& item : value->get_array()) {
        if (item.is_object()) FillObject(item.get_object(), fields, item_prefix);
      }
    }
  }
}

}  // namespace

void CheckAgainstSchema(const boost::json::object& payload, std::span<const PayloadField> fields,
                        Problems& problems) {
  SchemaChecker(fields, problems).CheckObject(payload, "", "payload");
}

void FillDefaults(boost::json::object& payload, std::span<const PayloadField> fields) {
  FillObject(payload, fields, "");
}

std::optional<std::int64_t> AsInt64(const boost::json::value& value) {
  if (value.is_int64()) return value.get_int64();
  if (value.is_uint64() &&
      value.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(value.get_uint64());
  }
  return std::nullopt;
}

std::string FieldPath(std::string_view parent, std::string_view key) {
  std::string path{parent};
  path += '.';
  path += key;
  return path;
}

std::string IndexPath(std::string_view parent, std::size_t index) {
  std::string path{parent};
  path += '[';
  path += std::to_string(index);
  path += ']';
  return path;
}

}  // namespace orb::protocol::payloads
