# Guide "Publishing Events" (Twisted), run with the current Component API.
import sys

from autobahn.twisted.component import Component, run
from autobahn.twisted.util import sleep
from autobahn.twisted.wamp import ApplicationSession
from twisted.internet.defer import inlineCallbacks


class MyComponent(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        print("session ready")

        counter = 0
        while True:
            self.publish(u'com.myapp.oncounter', counter)
            counter += 1
            yield sleep(1)


if __name__ == '__main__':
    url = sys.argv[1] if len(sys.argv) > 1 else u"ws://localhost:8080/ws"
    component = Component(transports=[{"url": url}], realm=u"realm1", session_factory=MyComponent)
    run([component])
