# Guide "Registering Procedures" (asyncio; `@coroutine`+`yield from` became `async def`+`await` in Python 3.11), run with ApplicationRunner:
# autobahn 22.7.1's asyncio component.run() uses the removed @asyncio.coroutine.
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession


class MyComponent(ApplicationSession):
    async def onJoin(self, details):
        print("session ready")

        def add2(x, y):
            return x + y

        try:
            await self.register(add2, u'com.myapp.add2')
            print("procedure registered")
        except Exception as e:
            print("could not register procedure: {0}".format(e))


if __name__ == '__main__':
    url = sys.argv[1] if len(sys.argv) > 1 else u"ws://localhost:8080/ws"
    runner = ApplicationRunner(url, realm=u"realm1")
    runner.run(MyComponent)
