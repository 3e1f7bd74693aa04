#include "cli/args.h"

#include <cctype>
#include <charconv>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace spool::cli {
namespace {

const FlagSpec* FindLong(const std::vector<FlagSpec>& flags, std::string_view name) {
  for (const FlagSpec& f : flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const FlagSpec* FindShort(const std::vector<FlagSpec>& flags, char c) {
  for (const FlagSpec& f : flags) {
    if (f.short_name == c) return &f;
  }
  return nullptr;
}

}  // namespace

StatusOr<Args> Args::Parse(const std::vector<std::string>& words,
                           const std::vector<FlagSpec>& flags) {
  Args out;
  bool only_positional = false;
  for (size_t i = 0; i < words.size(); i++) {
    const std::string& w = words[i];
    if (only_positional || w.size() < 2 || w[0] != '-' || w == "-") {
      out.positional_.push_back(w);
      continue;
    }
    if (w == "--") {
      only_positional = true;
      continue;
    }
    if (w == "--help" || w == "-h") {
      out.help_ = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = w;
    if (w[1] == '-') {
      std::string_view body = std::string_view(w).substr(2);
      const size_t eq = body.find('=');
      if (eq != std::string_view::npos) {
        inline_value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
        shown = absl::StrCat("--", std::string(body));
      }
      spec = FindLong(flags, body);
    } else if (std::isdigit(static_cast<unsigned char>(w[1])) != 0) {
      out.positional_.push_back(w);  // a negative number
      continue;
    } else if (w.size() == 2) {
      spec = FindShort(flags, w[1]);
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", shown, " (see --help)"));
    }
    if (!spec->takes_value) {
      if (inline_value) {
        return absl::InvalidArgumentError(absl::StrCat(shown, " takes no value"));
      }
      out.values_.emplace(spec->name, "true");
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= words.size()) {
        return absl::InvalidArgumentError(absl::StrCat(shown, " needs a value"));
      }
      inline_value = words[++i];
    }
    out.values_.emplace(spec->name, *inline_value);
  }
  return out;
}

bool Args::has(std::string_view name) const {
  return values_.find(name) != values_.end();
}

std::optional<std::string> Args::get(std::string_view name) const {
  auto [begin, end] = values_.equal_range(name);
  if (begin == end) return std::nullopt;
  return std::prev(end)->second;
}

std::string Args::get_or(std::string_view name, std::string fallback) const {
  std::optional<std::string> v = get(name);
  return v ? *v : std::move(fallback);
}

std::vector<std::string> Args::all(std::string_view name) const {
  std::vector<std::string> out;
  auto [begin, end] = values_.equal_range(name);
  for (auto it = begin; it != end; ++it) out.push_back(it->second);
  return out;
}

StatusOr<int64_t> Args::get_int(std::string_view name, int64_t fallback) const {
  std::optional<std::string> v = get(name);
  if (!v) return fallback;
  int64_t out = 0;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", std::string(name), " wants an integer, not '", *v, "'"));
  }
  return out;
}

std::string Usage(std::string_view path, std::string_view synopsis, std::string_view summary,
                  const std::vector<FlagSpec>& flags) {
  std::string out = absl::StrCat("usage: spool ", std::string(path), " ", std::string(synopsis),
                                 "\n\n", std::string(summary), "\n");
  if (!flags.empty()) absl::StrAppend(&out, "\nflags:\n");
  for (const FlagSpec& f : flags) {
    std::string left = f.short_name != 0 ? absl::StrCat("  -", std::string(1, f.short_name), ", ")
                                         : std::string("      ");
    absl::StrAppend(&left, "--", f.name);
    if (f.takes_value) absl::StrAppend(&left, " ", f.value_name.empty() ? "VALUE" : f.value_name);
    if (left.size() < 34) left.resize(34, ' ');
    absl::StrAppend(&out, left, " ", f.help);
    if (!f.default_value.empty()) absl::StrAppend(&out, " (default ", f.default_value, ")");
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "  -h, --help                       this help\n");
  return out;
}

}  // namespace spool::cli
