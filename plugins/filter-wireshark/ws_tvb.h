/* The helper's frame buffer for libwireshark (see ws_tvb.c). */
#ifndef PKX_WS_TVB_H
#define PKX_WS_TVB_H

#include <epan/tvbuff.h>

/* A frame over data (caplen bytes, owned by the caller, valid until the
 * buffer is freed), as tvb_new_real_data makes one, except that slices
 * libwireshark keeps (reassembly) are copied apart from its heap. */
tvbuff_t *ws_frame_tvb_new(const guint8 *data, guint caplen, gint reported);

#endif
