<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_TW">
  <context>
    <name>Panel</name>
    <message>
      <source>All-in-one Panel</source>
      <translation>一站式面板</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <source>Confirm</source>
      <translation>確認</translation>
    </message>
    <message>
      <source>Have you put the manifest in the drop box?</source>
      <translation>你已把艙單投入收集箱嗎？</translation>
    </message>
    <message>
      <source>Is this truck empty (unladen)?</source>
      <translation>這輛貨車是空車嗎？</translation>
    </message>
    <message>
      <source>Manifest box out of order: please see the officer</source>
      <translation>艙單收集箱故障，請見關員</translation>
    </message>
    <message>
      <source>Manifest dropped</source>
      <translation>已投入艙單</translation>
    </message>
    <message>
      <source>No vehicle</source>
      <translation>沒有車輛</translation>
    </message>
    <message>
      <source>Not available now</source>
      <translation>現在不可用</translation>
    </message>
    <message>
      <source>Received by the lane</source>
      <translation>車道已收到</translation>
    </message>
    <message>
      <source>Sent. Please wait</source>
      <translation>已發送，請稍候</translation>
    </message>
    <message>
      <source>Unladen Vehicle</source>
      <translation>空車</translation>
    </message>
    <message>
      <source>Vehicle {vrn}</source>
      <translation>車輛 {vrn}</translation>
    </message>
  </context>
</TS>
