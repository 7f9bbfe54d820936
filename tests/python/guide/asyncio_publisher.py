# Guide "Publishing Events" (asyncio; `@coroutine`+`yield from` became `async def`+`await` in Python 3.11), run with ApplicationRunner:
# autobahn 22.7.1's asyncio component.run() uses the removed @asyncio.coroutine.
import sys

from asyncio import sleep
from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession


class MyComponent(ApplicationSession):
    async def onJoin(self, details):
        print("session ready")

        counter = 0
        while True:
            self.publish(u'com.myapp.oncounter', counter)
            counter += 1
            await sleep(1)


if __name__ == '__main__':
    url = sys.argv[1] if len(sys.argv) > 1 else u"ws://localhost:8080/ws"
    runner = ApplicationRunner(url, realm=u"realm1")
    runner.run(MyComponent)
