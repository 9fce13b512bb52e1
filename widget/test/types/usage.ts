// Compiled by `npm test` (tsc --strict --noEmit) against @chatd/client's
// declarations: the README's uses type-check, and misuses are errors.
import {
  createClient, currentConversation, initialState, memoryStorage, myStorage, myTransport, reduce, timeline,
  ttTransport, visitorUrl, wxStorage, wxTransport, type ChatEvent, type ViewState,
} from '@chatd/client';

declare const wx: Record<string, any>;

const chat = createClient({
  url: visitorUrl('https://chat.example.com', 'shop'),
  site: 'shop',
  transport: wxTransport(wx),
  storage: wxStorage(wx),
  codec: 'json',
});
let view: ViewState = initialState();
const unsubscribe: () => void = chat.on('*', (event: ChatEvent) => {
  view = reduce(view, event);
  const conversation = currentConversation(view);
  const waiting: number | null = conversation && conversation.queue ? conversation.queue.position : null;
  const keys: string[] = timeline(view).map((item) => item.key);
  void waiting;
  void keys;
});
chat.connect();
const id: string = chat.send('你好');
chat.rate(chat.currentConversationId(), 5, 'thanks');
chat.start({ skill: 'billing' });
unsubscribe();
void id;

createClient({ url: 'wss://x/ws/visitor?site=s', site: 's', transport: ttTransport(), storage: memoryStorage() });
createClient({ url: 'wss://x/ws/visitor?site=s', site: 's', transport: myTransport(), storage: myStorage() });

// @ts-expect-error a transport is required
createClient({ url: 'wss://x', site: 's' });
// @ts-expect-error unknown codec
createClient({ url: 'wss://x', site: 's', transport: ttTransport(), codec: 'xml' });
// @ts-expect-error the body is a string
chat.send(42);
