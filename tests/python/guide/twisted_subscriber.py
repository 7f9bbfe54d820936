# Guide "Subscribing to Topics" (Twisted), run with the current Component API.
import sys

from autobahn.twisted.component import Component, run
from autobahn.twisted.wamp import ApplicationSession
from twisted.internet.defer import inlineCallbacks


class MyComponent(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        print("session ready")

        def oncounter(count):
            print("event received: {0}", count)

        try:
            yield self.subscribe(oncounter, u'com.myapp.oncounter')
            print("subscribed to topic")
        except Exception as e:
            print("could not subscribe to topic: {0}".format(e))


if __name__ == '__main__':
    url = sys.argv[1] if len(sys.argv) > 1 else u"ws://localhost:8080/ws"
    component = Component(transports=[{"url": url}], realm=u"realm1", session_factory=MyComponent)
    run([component])
