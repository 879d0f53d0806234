// Parses event streams with eventsource-parser, for the differential tests
// of package stream (see ../sse_parity_test.go).
//
// Input on stdin: a JSON array of cases {input: base64 bytes, chunks: [n...]}.
// Each case's bytes are decoded as a browser does (TextDecoder, UTF-8, one
// leading BOM left for the parser to strip) and fed to a fresh parser in
// chunks of the given sizes, cycling through them.
// Output on stdout: a JSON array with, per case, the dispatched events
// {type, data, id} (id being the last event ID in force), the last event
// ID after the stream and the last retry value (null if none).
import {createParser} from 'eventsource-parser'

const chunks = []
for await (const c of process.stdin) chunks.push(c)
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const results = cases.map(({input, chunks: sizes}) => {
  const bytes = Buffer.from(input, 'base64')
  const events = []
  let lastEventId = ''
  let retry = null
  const parser = createParser({
    onEvent(ev) {
      events.push({type: ev.event ?? 'message', data: ev.data, id: lastEventId})
    },
    onId(id) {
      lastEventId = id
    },
    onRetry(ms) {
      retry = ms
    },
  })
  // ignoreBOM keeps a leading U+FEFF in the text, so that exactly one BOM
  // is stripped, by the parser, as the standard says.
  const decoder = new TextDecoder('utf-8', {ignoreBOM: true})
  let off = 0
  for (let i = 0; off < bytes.length; i++) {
    const n = sizes?.length ? sizes[i % sizes.length] : bytes.length
    parser.feed(decoder.decode(bytes.subarray(off, off + n), {stream: true}))
    off += n
  }
  parser.feed(decoder.decode())
  return {events, lastEventId, retry}
})
process.stdout.write(JSON.stringify(results))
