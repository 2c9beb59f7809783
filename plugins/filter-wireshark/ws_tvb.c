/* The helper's frame buffer for libwireshark, and where copies of it go.
 *
 * Reassembly keeps each fragment by cloning a slice of the frame.  For a
 * plain frame buffer libwireshark copies the slice into the malloc heap,
 * between the small records reassembly links together, and walking those
 * lists (which it does for every fragment added) then touches pages
 * spread over the whole heap: on a capture with long unfinished
 * reassemblies that walk is most of the time, and ran about 20% slower
 * than in tshark, whose frame buffers clone without copying (they re-read
 * the file, which the helper's stream cannot: its pages are given back).
 * Here the copies go to a region of their own, in size classes with free
 * lists, so the heap keeps only the small records.  Bytes, lengths and
 * offsets are those of a plain buffer; only where the copy lives
 * differs. */
#include "ws_tvb.h" /* epan/tvbuff.h, which tvbuff-int.h needs first */

#include <string.h>
#include <sys/mman.h>

#include <epan/tvbuff-int.h>

/* Copies up to this size go to the region; longer ones (rare: a slice of
 * a frame over 64 KiB) to libwireshark's own copy. */
#define WS_COPY_MAX  65536u
#define WS_CHUNK     (4u << 20) /* the region grows by this much */
#define WS_N_CLASSES (32 + 28 + 12)

typedef struct ws_free_block {
	struct ws_free_block *next;
} ws_free_block;

static ws_free_block *ws_free_lists[WS_N_CLASSES];
static guint8 *ws_chunk; /* the part of the region not handed out */
static size_t ws_chunk_left;

/* Size classes of len (1 to WS_COPY_MAX): 64-byte steps to 2 KiB, 512-byte
 * steps to 16 KiB, 4 KiB steps to 64 KiB (at most 1/32 wasted past the first).
 */
static unsigned ws_class(size_t len, size_t *size)
{
	if (len <= 2048) {
		*size = (len + 63) & ~(size_t)63;
		return (unsigned)(*size / 64 - 1);
	}
	if (len <= 16384) {
		*size = (len + 511) & ~(size_t)511;
		return 32 + (unsigned)((*size - 2048) / 512 - 1);
	}
	*size = (len + 4095) & ~(size_t)4095;
	return 60 + (unsigned)((*size - 16384) / 4096 - 1);
}

static guint8 *ws_copy_alloc(size_t len, unsigned *cls)
{
	size_t size;
	guint8 *p;

	*cls = ws_class(len, &size);
	if (ws_free_lists[*cls]) {
		p = (guint8 *)ws_free_lists[*cls];
		ws_free_lists[*cls] = ws_free_lists[*cls]->next;
		return p;
	}
	if (ws_chunk_left < size) {
		/* The rest of the old chunk is left unused: under a block. */
		void *m = mmap(NULL, WS_CHUNK, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return NULL;
		ws_chunk = m;
		ws_chunk_left = WS_CHUNK;
	}
	p = ws_chunk;
	ws_chunk += size;
	ws_chunk_left -= size;
	return p;
}

/* A copy: a plain buffer whose bytes sit in the region. */
typedef struct ws_copy_tvb {
	struct tvbuff tvb;
	unsigned cls;
} ws_copy_tvb;

static guint ws_offset(const tvbuff_t *tvb, guint counter)
{
	(void)tvb;
	return counter; /* a top-level buffer: its own data source */
}

static void ws_copy_free(tvbuff_t *tvb)
{
	ws_copy_tvb *c = (ws_copy_tvb *)tvb;
	ws_free_block *b = (ws_free_block *)(void *)tvb->real_data;

	b->next = ws_free_lists[c->cls];
	ws_free_lists[c->cls] = b;
}

/* Without clone: a clone of a copy is libwireshark's plain copy. */
static const struct tvb_ops ws_copy_ops = {
    .tvb_size = sizeof(ws_copy_tvb),
    .tvb_free = ws_copy_free,
    .tvb_offset = ws_offset,
};

static tvbuff_t *ws_frame_clone(tvbuff_t *tvb, guint offset, guint len)
{
	ws_copy_tvb *c;
	guint8 *data;
	unsigned cls;

	/* Out of range (libwireshark then throws, as for any buffer), empty
	 * or long: libwireshark's own copy. */
	if (len == 0 || len > WS_COPY_MAX || offset > tvb->length ||
	    len > tvb->length - offset)
		return NULL;
	if (!(data = ws_copy_alloc(len, &cls)))
		return NULL;
	memcpy(data, tvb->real_data + offset, len);
	c = (ws_copy_tvb *)tvb_new(&ws_copy_ops);
	c->cls = cls;
	c->tvb.real_data = data;
	c->tvb.length = c->tvb.reported_length = c->tvb.contained_length = len;
	c->tvb.initialized = TRUE;
	c->tvb.ds_tvb = &c->tvb;
	return &c->tvb;
}

/* The frame: its bytes belong to the caller, as with
 * tvb_new_real_data. */
static const struct tvb_ops ws_frame_ops = {
    .tvb_size = sizeof(struct tvbuff),
    .tvb_offset = ws_offset,
    .tvb_clone = ws_frame_clone,
};

tvbuff_t *ws_frame_tvb_new(const guint8 *data, guint caplen, gint reported)
{
	tvbuff_t *tvb = tvb_new(&ws_frame_ops);

	tvb->real_data = data;
	tvb->length = caplen;
	tvb->reported_length = tvb->contained_length = (guint)reported;
	tvb->initialized = TRUE;
	tvb->ds_tvb = tvb;
	return tvb;
}
