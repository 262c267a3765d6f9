<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
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
      <translation>确认</translation>
    </message>
    <message>
      <source>Have you put the manifest in the drop box?</source>
      <translation>你已把舱单投入收集箱吗？</translation>
    </message>
    <message>
      <source>Is this truck empty (unladen)?</source>
      <translation>这辆货车是空车吗？</translation>
    </message>
    <message>
      <source>Manifest box out of order: please see the officer</source>
      <translation>舱单收集箱故障，请见关员</translation>
    </message>
    <message>
      <source>Manifest dropped</source>
      <translation>已投入舱单</translation>
    </message>
    <message>
      <source>No vehicle</source>
      <translation>没有车辆</translation>
    </message>
    <message>
      <source>Not available now</source>
      <translation>现在不可用</translation>
    </message>
    <message>
      <source>Received by the lane</source>
      <translation>车道已收到</translation>
    </message>
    <message>
      <source>Sent. Please wait</source>
      <translation>已发送，请稍候</translation>
    </message>
    <message>
      <source>Unladen Vehicle</source>
      <translation>空车</translation>
    </message>
    <message>
      <source>Vehicle {vrn}</source>
      <translation>车辆 {vrn}</translation>
    </message>
  </context>
</TS>
