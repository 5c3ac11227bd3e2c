# yolo-tools: plain GNU make.
#   make                  build the tools into build/bin
#   make check            build and run the test suite (SANITIZE=1 for ASan/UBSan)
#   make deps             install every Debian package the project needs
#   make install PREFIX=  install tools, scripts, model YAMLs and man pages
#   make bench            print timings (never pass/fail)
#   make soak             the long checks: tests/soak.sh (user session, Ctrl+C) and tests/soak/ (ranks)
#   make fuzz             build the fuzz harnesses (clang, libFuzzer); fuzz/run smoke-runs them
#   make format           apply .clang-format; make format-check fails on any difference (CI)
# LIBTORCH=/path builds against another libtorch (for example a CUDA build).

PREFIX   ?= /usr/local
SANITIZE ?=
LIBTORCH ?=
BUILD    ?= $(if $(SANITIZE),build-san,build)

CC       ?= cc
CXX      ?= c++
WARN      = -Wall -Wextra
OPT      ?= -O2 -g
# No FMA contraction, whatever the compiler (clang fuses by default): the bit-exact kernels write
# their fused multiply-adds out as fmaf() where libtorch's build has one, and nowhere else.
FPFLAGS   = -ffp-contract=off
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) $(FPFLAGS) $(OPT) -Iinclude -MMD -MP -pthread
CXXFLAGS += -std=c++17 $(WARN) -Wno-unused-parameter $(FPFLAGS) $(OPT) -Iinclude -MMD -MP -pthread

# The process groups (lib/torch_dist.cpp) use c10d's Gloo backend, whose headers come from libgloo-dev;
# a CUDA build of libtorch also brings NCCL (ranks on GPUs), which needs the CUDA toolkit's headers.
ifneq ($(LIBTORCH),)
TORCH_INC = -I$(LIBTORCH)/include -I$(LIBTORCH)/include/torch/csrc/api/include
TORCH_LIB = -L$(LIBTORCH)/lib -Wl,-rpath,$(LIBTORCH)/lib
ifneq ($(wildcard $(LIBTORCH)/lib/libtorch_cuda.so),)
CUDA_HOME ?= /usr/local/cuda
TORCH_INC += -DUSE_C10D_NCCL -I$(CUDA_HOME)/include
TORCH_LIB += -ltorch_cuda
endif
else
TORCH_INC = -I/usr/include/torch/csrc/api/include
TORCH_LIB =
endif
CXXFLAGS += $(TORCH_INC) -DUSE_C10D_GLOO
# The drawing module (lib/canvas.c) uses cairo with FreeType for its fonts; only the tools that draw
# (yolo-plot, yolo-predict, yolo-eval-model) end up linking them (--as-needed).
CAIRO_INC := $(shell pkg-config --cflags cairo-ft 2>/dev/null || echo -I/usr/include/cairo -I/usr/include/freetype2)
CFLAGS   += $(CAIRO_INC)

ifneq ($(SANITIZE),)
SANFLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS   += $(SANFLAGS)
CXXFLAGS += $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)
endif

# Tools only pull the library objects they use; --as-needed keeps libtorch out
# of tools that never call it, so those start in milliseconds.
LIBS = -Wl,--as-needed $(TORCH_LIB) -ltorch -ltorch_cpu -lc10 \
       -lmsgpackc -lyaml -larchive -lturbojpeg -lspng -lcairo -lfreetype -lz -lm -lstdc++ -pthread

LIB_C    := $(sort $(wildcard lib/*.c))
LIB_CXX  := $(sort $(wildcard lib/*.cpp))
LIB_OBJ  := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cpp=$(BUILD)/%.o)
CMD_SRC  := $(sort $(wildcard cmd/*.c))
TOOLS    := $(CMD_SRC:cmd/%.c=$(BUILD)/bin/%)
TEST_SRC := $(sort $(wildcard tests/*.c))
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(BUILD)/tests/golden-check
GOLDEN_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tests/golden/*.c)))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
DEB_PACKAGES = build-essential libtorch-dev libblas3 libmsgpack-dev libyaml-dev libarchive-dev \
       parallel libturbojpeg0-dev libspng-dev zlib1g-dev libgloo-dev dataset-fashion-mnist \
       python3-torch python3-torchvision python3-numpy python3-pil afl++ clang libclang-rt-14-dev zstd bc \
       libdnnl-dev libcairo2-dev libfreetype-dev fonts-dejavu-core clang-format tmux strace iproute2

.PHONY: all check deps install bench fuzz fuzz-check clean format format-check demo man-keys soak
# Keep object files of tools and tests between builds.
.SECONDARY:
all: $(TOOLS) $(TESTS) $(BENCHES)

$(BUILD)/libyolo.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# The batch-norm kernels are plain loops over 16 channels that only pay with vectorisation.
$(BUILD)/lib/bnorm.o: CFLAGS += -O3
# The matrix product's tiles stay in registers only once their column loops are unrolled.
$(BUILD)/lib/blas.o: CFLAGS += -O3

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/bin/%: $(BUILD)/cmd/%.o $(BUILD)/libyolo.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(BUILD)/libyolo.a $(LIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libyolo.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(BUILD)/libyolo.a $(LIBS) -o $@

# The golden checker: one program from tests/golden/*.c (one file per golden file).
$(BUILD)/tests/golden-check: $(GOLDEN_OBJ) $(BUILD)/libyolo.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(GOLDEN_OBJ) $(BUILD)/libyolo.a $(LIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libyolo.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(BUILD)/libyolo.a $(LIBS) -o $@

# The build runs on every core unless -j was given; the tests run after it.
NPROC := $(shell nproc 2>/dev/null || echo 2)
PARALLEL = $(if $(filter -j% --jobserver%,$(MAKEFLAGS)),,-j$(NPROC))
check:
	$(MAKE) $(PARALLEL) all
	BUILD=$(BUILD) tests/run

bench: all
	BUILD=$(BUILD) bench/run

# The long randomized user session (2,000 steps, STEPS= and SEED= to change) and 20 Ctrl+C presses
# through a real terminal, with their figures (about an hour on 2 cores).
soak: all
	BUILD=$(BUILD) tests/soak.sh

# The guide's workflow on Fashion-MNIST: train, Ctrl+C mid-run, resume, final table (a few minutes).
demo: all
	PATH=$(CURDIR)/$(BUILD)/bin:$$PATH scripts/demo.sh $(BUILD)/demo

# libFuzzer harnesses: fuzz/fuzz_*.c, built with clang against the library sources.
# The C library goes into an archive so that a harness pulls only the objects it uses (some modules
# call the libtorch wrapper, which the harnesses do not link).
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude $(CAIRO_INC)
FUZZ_LIBOBJ := $(patsubst lib/%.c,build-fuzz/obj/%.o,$(filter-out $(wildcard lib/torch*.c),$(LIB_C)))
fuzz: $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
# Each harness over its corpus, then FUZZ_SECONDS of random mutations (what CI runs).
FUZZ_SECONDS ?= 20
fuzz-check: fuzz
	fuzz/run $(FUZZ_SECONDS)
build-fuzz/obj/%.o: lib/%.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
build-fuzz/libyolo-fuzz.a: $(FUZZ_LIBOBJ)
	rm -f $@ && ar rcs $@ $^
build-fuzz/%: fuzz/%.c build-fuzz/libyolo-fuzz.a
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $< build-fuzz/libyolo-fuzz.a \
	  -lmsgpackc -lyaml -larchive -lturbojpeg -lspng -lz -lm -o $@

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES)

install: $(TOOLS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/yolo-tools/models \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 scripts/yolo scripts/yolo-sweep $(DESTDIR)$(PREFIX)/bin/
	install -m 644 cfg/models/*.yaml $(DESTDIR)$(PREFIX)/share/yolo-tools/models/
	install -d $(DESTDIR)$(PREFIX)/share/yolo-tools/python/ultralytics
	install -m 644 python/ultralytics_shim.py $(DESTDIR)$(PREFIX)/share/yolo-tools/python/
	install -m 644 python/ultralytics/__init__.py $(DESTDIR)$(PREFIX)/share/yolo-tools/python/ultralytics/
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/ 2>/dev/null || true
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/ 2>/dev/null || true

# Every C and C++ source and header, as .clang-format has it; format-check (CI) changes nothing.
FORMAT_SRC = $(wildcard lib/*.c lib/*.cpp lib/*.h lib/*.hpp include/yolo/*.h cmd/*.c tests/*.c tests/*.h \
       tests/golden/*.c tests/golden/*.h bench/*.c fuzz/*.c)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run -Werror $(FORMAT_SRC)

# yolo(1)'s KEYS section is the args table (lib/args.c), as yolo-args prints it; t_yolo_args checks it.
man-keys: $(BUILD)/bin/yolo-args
	{ sed '/^\.\\" BEGIN KEYS/q' man/man1/yolo.1; $(BUILD)/bin/yolo-args keys --man; \
	  sed -n '/^\.\\" END KEYS/,$$p' man/man1/yolo.1; } >man/man1/yolo.1.tmp && mv man/man1/yolo.1.tmp man/man1/yolo.1

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
