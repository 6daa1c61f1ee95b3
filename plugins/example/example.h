/* example.h - the layer types of the example plugin, registered together by
 * its entry point in plugin.c. */
#ifndef EXAMPLE_LAYERS_H
#define EXAMPLE_LAYERS_H

#include <tinycnn/plugin.h>

extern const tc_layer_type example_elu_type;
extern const tc_layer_type example_scale_type;

#endif
