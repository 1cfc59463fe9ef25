"""Message rendering shared by the sender and the API (preview, test-send).

One implementation of what a recipient receives: MJML compiled and CSS inlined once per campaign
(`compile`), Jinja personalisation under the render budget (`murmur.domain.rendering`), signed
tracking links and open pixel (`links`), the CAN-SPAM footer, the automatic plain-text part
(`text`), the RFC 8058 headers and MIME (`message`) and DKIM (`dkim`). Nothing here touches the
database or the network.
"""
