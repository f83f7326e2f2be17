// Preloaded with NODE_OPTIONS=--require (an environment variable, not a change to any client):
// makes Node's global fetch honour HTTPS_PROXY / NO_PROXY, which Node 20 does not do by itself,
// through undici's EnvHttpProxyAgent (npm undici sets the dispatcher Node's fetch uses).
const { EnvHttpProxyAgent, setGlobalDispatcher } = require('undici');
setGlobalDispatcher(new EnvHttpProxyAgent());
