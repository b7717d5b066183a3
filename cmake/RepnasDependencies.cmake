# Every dependency comes from a Debian 12 package. A missing one stops the configure step with
# the name of the package that provides it.
macro(repnas_require package debian_package)
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR
      "${package} was not found. Install the Debian package '${debian_package}':\n"
      "    apt-get install ${debian_package}\n"
      "(or run ./scripts/dev.sh deps, which installs everything RepNAS Studio needs)")
  endif()
endmacro()

repnas_require(Torch libtorch-dev)
repnas_require(nlohmann_json nlohmann-json3-dev)
repnas_require(ONNX libonnx-dev)
repnas_require(ZLIB zlib1g-dev)
if(REPNAS_BUILD_UI OR REPNAS_BUILD_TESTS)
  repnas_require(Qt6 qt6-base-dev COMPONENTS Core Gui Widgets PrintSupport Test)
endif()
if(REPNAS_BUILD_UI)
  repnas_require(QCustomPlotQt6 libqcustomplot-dev)
endif()

# CBC (COIN-OR branch and cut) for the integer programs: the multiple-choice knapsack of
# cost-aware budgets and HANT (core/src/search/knapsack.cpp). Debian ships it with pkg-config.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(CBC QUIET IMPORTED_TARGET cbc)
endif()
if(NOT CBC_FOUND)
  message(FATAL_ERROR
    "CBC was not found. Install the Debian package 'coinor-libcbc-dev':\n"
    "    apt-get install coinor-libcbc-dev\n"
    "(or run ./scripts/dev.sh deps, which installs everything RepNAS Studio needs)")
endif()
