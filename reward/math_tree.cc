// The answer tree's helpers declared in latex_parse.h: construction and the
// prefix form that tests and reasons print.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "reward/latex_parse.h"

namespace grpo::reward::math {

NodePtr MakeNode(Op op, std::string text, std::vector<NodePtr> args) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->text = std::move(text);
  node->args = std::move(args);
  return node;
}

std::string DebugString(const Node& node) {
  std::vector<std::string> parts;
  for (const auto& a : node.args) parts.push_back(DebugString(*a));
  std::string args = absl::StrJoin(parts, " ");
  switch (node.op) {
    case Op::kNumber: case Op::kSymbol: return node.text;
    case Op::kConst: return absl::StrCat("#", node.text);
    case Op::kText: return absl::StrCat("\"", node.text, "\"");
    case Op::kAdd: return absl::StrCat("(+ ", args, ")");
    case Op::kMul: return absl::StrCat("(* ", args, ")");
    case Op::kPow: return absl::StrCat("(^ ", args, ")");
    case Op::kNeg: return absl::StrCat("(- ", args, ")");
    case Op::kFunc: return absl::StrCat("(", node.text, " ", args, ")");
    case Op::kFactorial: return absl::StrCat("(! ", args, ")");
    case Op::kPercent: return absl::StrCat("(% ", args, ")");
    case Op::kPlusMinus: return absl::StrCat("(+- ", args, ")");
    case Op::kTuple:
      return absl::StrCat(std::string(1, node.open), args, std::string(1, node.close));
    case Op::kSet: return absl::StrCat("{", args, "}");
    case Op::kList: return absl::StrCat("(list ", args, ")");
    case Op::kUnion: return absl::StrCat("(cup ", args, ")");
    case Op::kRelation: {
      std::string out = DebugString(*node.args[0]);
      for (size_t i = 0; i < node.relations.size(); ++i) {
        absl::StrAppend(&out, " ", node.relations[i], " ", DebugString(*node.args[i + 1]));
      }
      return absl::StrCat("(rel ", out, ")");
    }
    case Op::kMatrix: return absl::StrCat("(matrix ", node.rows, "x", node.cols, " ", args, ")");
  }
  return "?";
}

}  // namespace grpo::reward::math
