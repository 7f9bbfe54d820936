# Guide "compositional" listener example (Twisted): 'join' and 'leave' listeners
# instead of subclassing. The old Connection(main=on_create) hook is now the
# Component's own .on() listeners.
from __future__ import print_function

import sys

from autobahn.twisted.component import Component, run


def setup(session, details):
    print('session joined: {}'.format(session))
    # explicitly leaving a realm will disconnect the connection
    # cleanly and not try to reconnect, but exit cleanly.
    return session.leave()


def teardown(session, details):
    print("on_leave", details)


if __name__ == '__main__':
    url = sys.argv[1] if len(sys.argv) > 1 else u"ws://localhost:8080/ws"
    connection = Component(
        transports=[{"url": url}],
        realm=u"realm1",
    )
    connection.on('join', setup)
    connection.on('leave', teardown)
    run([connection], log_level='info')
