/*
 * tinycnn/tinycnn.h - the public API of the tiny-cnn runtime library.
 *
 * Conventions: functions return 0 on success and non-zero on failure, filling
 * a caller-provided tc_error with a message that names the file, node and
 * value at fault. The library never prints and never exits.
 *
 * A program that only classifies needs tinycnn/model.h alone. The layer-check
 * harness (tinycnn/layer_check.h) is not included here: it is a separate
 * library (libtinycnn_check.a, CMake target tinycnn::check) for tests.
 */
#ifndef TINYCNN_TINYCNN_H
#define TINYCNN_TINYCNN_H

#include "tinycnn/plugin.h"
#include "tinycnn/status.h"
#include "tinycnn/registry.h"
#include "tinycnn/graph.h"
#include "tinycnn/optim.h"
#include "tinycnn/dataset.h"
#include "tinycnn/checkpoint.h"
#include "tinycnn/snapshot.h"
#include "tinycnn/train.h"
#include "tinycnn/train_settings.h"
#include "tinycnn/session.h"
#include "tinycnn/session_report.h"
#include "tinycnn/train_log.h"
#include "tinycnn/model.h"
#include "tinycnn/metrics.h"
#include "tinycnn/summary.h"
#include "tinycnn/evaluation.h"
#include "tinycnn/registry_describe.h"
#include "tinycnn/format.h"
#include "tinycnn/report.h"
#include "tinycnn/onnx.h"
#include "tinycnn/dist.h"
#include "tinycnn/augment.h"
#include "tinycnn/kernels.h"
#include "tinycnn/signal_text.h"
#include "tinycnn/step_watch.h"

#define TC_VERSION_STRING "0.1.0"

#endif
