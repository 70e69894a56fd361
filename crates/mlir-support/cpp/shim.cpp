//===- shim.cpp - The C++ the MLIR C API lacks ---------------------------===//
//
// MLIR's C API can create external passes but cannot register them in the
// global pass registry, so they could not be named in textual pipelines
// (`--pass-pipeline='builtin.module(vllm-dce)'`). This shim registers Rust
// passes as real `mlir::Pass`es with string options, and adds
// two small helpers (pass lookup, a fatal-error handler). It is the only C++
// in the project and is called only from `crates/mlir-support/src/ffi.rs`.
//
//===----------------------------------------------------------------------===//

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"
#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Support.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/TypeID.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
/// Runs a Rust pass on `op`. `options` holds one value per declared option, in
/// declaration order. `pass` is the running mlir::Pass (unused by Rust today).
/// Returns false when the pass failed (it has emitted diagnostics).
typedef bool (*VllmPassRunFn)(void *userData, MlirOperation op,
                              const MlirStringRef *options, size_t numOptions,
                              void *pass);
}

namespace {

struct RustPassSpec {
  std::string argument;
  std::string summary;
  std::string anchor; // empty: any operation
  std::vector<std::string> optionNames;
  std::vector<std::string> optionDescs;
  std::vector<std::string> optionDefaults;
  VllmPassRunFn run;
  void *userData;
  mlir::TypeID typeID;
};

mlir::TypeIDAllocator &typeIDAllocator() {
  static mlir::TypeIDAllocator allocator;
  return allocator;
}

class RustPass : public mlir::Pass {
public:
  explicit RustPass(const RustPassSpec *spec)
      : mlir::Pass(spec->typeID,
                   spec->anchor.empty()
                       ? std::nullopt
                       : std::optional<llvm::StringRef>(spec->anchor)),
        spec(spec) {
    for (size_t i = 0; i < spec->optionNames.size(); ++i) {
      auto opt = std::make_unique<Option<std::string>>(
          *this, spec->optionNames[i], llvm::cl::desc(spec->optionDescs[i]),
          llvm::cl::init(spec->optionDefaults[i]));
      options.push_back(std::move(opt));
    }
  }
  RustPass(const RustPass &other) : RustPass(other.spec) {
    copyOptionValuesFrom(&other);
  }

  llvm::StringRef getName() const override { return spec->argument; }
  llvm::StringRef getArgument() const override { return spec->argument; }
  llvm::StringRef getDescription() const override { return spec->summary; }
  bool canScheduleOn(mlir::RegisteredOperationName) const override {
    return true;
  }
  std::unique_ptr<mlir::Pass> clonePass() const override {
    return std::make_unique<RustPass>(*this);
  }

  void runOnOperation() override {
    std::vector<MlirStringRef> values;
    values.reserve(options.size());
    for (auto &opt : options) {
      const std::string &v = *opt;
      values.push_back(mlirStringRefCreate(v.data(), v.size()));
    }
    if (!spec->run(spec->userData, wrap(getOperation()), values.data(),
                   values.size(), this))
      signalPassFailure();
  }

private:
  const RustPassSpec *spec;
  std::vector<std::unique_ptr<Option<std::string>>> options;
};

std::vector<std::string> split(const char *const *strings, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.emplace_back(strings[i]);
  return out;
}

} // namespace

extern "C" {

/// Registers a pass under `argument` in MLIR's global registry. The spec is
/// copied and lives until process exit, like every MLIR pass registration.
void vllmRegisterPass(const char *argument, const char *summary,
                      const char *anchor, const char *const *optionNames,
                      const char *const *optionDescs,
                      const char *const *optionDefaults, size_t numOptions,
                      VllmPassRunFn run, void *userData) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto *spec = new RustPassSpec{argument,
                                summary,
                                anchor,
                                split(optionNames, numOptions),
                                split(optionDescs, numOptions),
                                split(optionDefaults, numOptions),
                                run,
                                userData,
                                typeIDAllocator().allocate()};
  mlir::registerPass([spec]() -> std::unique_ptr<mlir::Pass> {
    return std::make_unique<RustPass>(spec);
  });
}

/// True when `name` is a registered pass or pass pipeline.
bool vllmIsRegisteredPass(MlirStringRef name) {
  llvm::StringRef n = unwrap(name);
  return mlir::PassInfo::lookup(n) != nullptr ||
         mlir::PassPipelineInfo::lookup(n) != nullptr;
}

/// Prints every registered pass and pipeline (argument and summary) to stdout.
void vllmPrintRegisteredPasses() {
  mlir::printRegisteredPasses();
  llvm::outs().flush();
  // A closed stdout (`vllm-opt --help | head`) is the reader's choice, not
  // our failure; left set, the error becomes a fatal error at exit.
  if (llvm::outs().has_error())
    llvm::outs().clear_error();
}

/// Turns LLVM/MLIR fatal errors (which would abort) into a reported error
/// and exit code 1.
static void fatalErrorHandler(void *, const char *reason, bool) {
  std::fprintf(stderr, "error: internal compiler error (LLVM fatal error): %s\n",
               reason);
  std::fflush(stderr);
  std::_Exit(1);
}

void vllmInstallFatalErrorHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::install_fatal_error_handler(fatalErrorHandler, nullptr);
  });
}

} // extern "C"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"

extern "C" {
/// Parses `source` as a module whose locations name `name`. Like mlir-opt, a
/// source that is not a single `builtin.module` is wrapped in an implicit one.
/// Returns a null module on failure (diagnostics went to the context).
MlirModule vllmParseSourceWithName(MlirContext context, MlirStringRef source,
                                   MlirStringRef name) {
  mlir::ParserConfig config(unwrap(context), /*verifyAfterParse=*/true);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(unwrap(source), config,
                                              unwrap(name));
  return MlirModule{module.release().getOperation()};
}
}

#include "mlir/IR/ExtensibleDialect.h"
#include "mlir/IR/MLIRContext.h"

extern "C" {
/// Verifies one operation; returns false after emitting an error on it.
typedef bool (*VllmVerifyFn)(void *userData, MlirOperation op);

/// Loads the dynamic dialect `dialect` into `context` with the operations
/// `ops` (names without the dialect prefix), each verified by `verify`. The
/// definitions come from a data table on the Rust side (dialects/ops.toml).
/// Loading a dialect that is already loaded is a no-op.
void vllmLoadDynamicDialect(MlirContext context, MlirStringRef dialect,
                            const MlirStringRef *ops, size_t numOps,
                            VllmVerifyFn verify, void *userData) {
  std::vector<std::string> names;
  for (size_t i = 0; i < numOps; ++i)
    names.push_back(unwrap(ops[i]).str());
  unwrap(context)->getOrLoadDynamicDialect(
      unwrap(dialect), [&](mlir::DynamicDialect *d) {
        for (const std::string &name : names) {
          auto def = mlir::DynamicOpDefinition::get(
              name, d,
              [verify, userData](mlir::Operation *op) -> llvm::LogicalResult {
                return llvm::success(verify(userData, wrap(op)));
              },
              [](mlir::Operation *) -> llvm::LogicalResult {
                return llvm::success();
              });
          d->registerDynamicOp(std::move(def));
        }
      });
}
}

#include "mlir/IR/Diagnostics.h"

extern "C" {
/// Emits a remark (the C API only emits errors).
void vllmEmitRemark(MlirLocation location, const char *message) {
  mlir::emitRemark(unwrap(location), message);
}
}
